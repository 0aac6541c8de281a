"""The transport under every provider's ``httpx.AsyncClient``: aiohttp.

httpx stays the client API (requests, timeouts, streaming, respx in tests),
but its default transport falls behind as concurrency rises: in `make bench`
a pass-through proxy on it served a fraction of what the same proxy serves
over aiohttp's connection pool (see README, "Performance"). This module
carries httpx requests over aiohttp and turns aiohttp's errors into the
httpx exceptions the providers already handle, so an unreachable upstream is
still a ``ConnectError`` and a slow one a ``ReadTimeout``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx

# Checked in order, so more specific classes come first.
_ERRORS: list[tuple[type[BaseException], type[httpx.TransportError]]] = [
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (TimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.ClientConnectionError, httpx.NetworkError),
    (aiohttp.ClientError, httpx.TransportError),
]


def _httpx_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    for aiohttp_type, httpx_type in _ERRORS:
        if isinstance(exc, aiohttp_type):
            return httpx_type(str(exc) or type(exc).__name__, request=request)
    raise exc


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one aiohttp session; create it inside the running loop."""

    def __init__(self, limits: httpx.Limits) -> None:
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            keepalive_timeout=limits.keepalive_expiry,
            # The same certificate store as httpx's own transport.
            ssl=httpx.create_ssl_context(),
        )
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        connect, pool = timeout.get("connect"), timeout.get("pool")
        try:
            response = await self._session.request(
                request.method, str(request.url), headers=request.headers.multi_items(),
                data=request.content or None, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    # aiohttp's connect covers waiting for a pooled connection too.
                    connect=None if connect is None or pool is None else connect + pool,
                    sock_connect=connect, sock_read=timeout.get("read"),
                ),
            )
        except Exception as exc:
            raise _httpx_error(exc, request) from exc
        return httpx.Response(
            response.status, headers=response.raw_headers,
            stream=_ResponseStream(response, request), request=request,
            extensions={"http_version": b"HTTP/1.1",
                        "reason_phrase": (response.reason or "").encode()},
        )

    async def aclose(self) -> None:
        await self._session.close()


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            # iter_any hands over bytes as they arrive: stream chunks are
            # forwarded at once, not held back to fill a buffer.
            async for chunk in self._response.content.iter_any():
                yield chunk
        except Exception as exc:
            raise _httpx_error(exc, self._request) from exc

    async def aclose(self) -> None:
        # Returns a fully read connection to the pool and closes one still
        # carrying a body, which stops the upstream's work on a hang-up.
        self._response.release()
