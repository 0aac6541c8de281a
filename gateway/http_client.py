"""The HTTP client every provider talks to its upstream with.

httpx stays the client API (requests, timeouts, streaming, respx in tests),
with two changes measured in `make bench` (see README, "Performance"):

- its default transport falls behind as concurrency rises, so requests go
  out over aiohttp's connection pool; aiohttp's errors are turned into the
  httpx exceptions the providers already handle, so an unreachable upstream
  is still a ``ConnectError`` and a slow one a ``ReadTimeout``;
- it keeps no cookies (see :class:`UpstreamClient`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import httpx

from .observability.context import request_record

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


class UpstreamClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` over :class:`AiohttpTransport` that keeps no cookies.

    One client carries every user's requests to a provider, so a cookie one
    reply sets must not ride along on everyone else's requests. Not keeping
    them also spares httpx's cookie bookkeeping (a urllib request and an
    email message built for every reply), a sixth of the client's CPU time.
    """

    def __init__(self, *, limits: httpx.Limits, **kwargs: Any) -> None:
        super().__init__(transport=AiohttpTransport(limits), limits=limits, **kwargs)
        self._no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise TypeError("the gateway's upstream clients keep no cookies")


class _NoCookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        pass


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one aiohttp session; create it inside the running loop."""

    def __init__(self, limits: httpx.Limits) -> None:
        connector = aiohttp.TCPConnector(
            # The limit is kept by _slots instead: aiohttp's own wait for a
            # free connection cannot be told apart from a slow connect, and
            # a full pool must be reported as such (httpx.PoolTimeout).
            limit=0,
            keepalive_timeout=limits.keepalive_expiry,
            # The same certificate store as httpx's own transport.
            ssl=httpx.create_ssl_context(),
        )
        # Keeps no cookies either, for the reason UpstreamClient gives.
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                              cookie_jar=aiohttp.DummyCookieJar())
        # One slot per connection in use, held until the reply is read or closed.
        self._slots = asyncio.Semaphore(limits.max_connections or 2**31)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        connect = timeout.get("connect")
        record = request_record()
        record.transport_wait_started()
        try:
            if self._slots.locked():
                try:
                    async with asyncio.timeout(timeout.get("pool")):
                        await self._slots.acquire()
                except TimeoutError:
                    raise httpx.PoolTimeout("no connection came free in time",
                                            request=request) from None
            else:
                # A free slot is taken without waiting: no timer to set and cancel.
                await self._slots.acquire()
            url = request.url
            if url.userinfo:
                # httpx has turned it into an Authorization header already, and
                # aiohttp refuses a request that carries both.
                url = url.copy_with(userinfo=b"")
            try:
                response = await self._session.request(
                    request.method, str(url), headers=request.headers.multi_items(),
                    data=request.content or None, allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(
                        connect=connect, sock_connect=connect, sock_read=timeout.get("read"),
                    ),
                )
            except BaseException as exc:
                self._slots.release()
                if isinstance(exc, Exception):
                    raise _httpx_error(exc, request) from exc
                raise
        finally:
            record.transport_wait_ended()
        stream = _ResponseStream(response, request, self._slots.release)
        reply = httpx.Response(
            response.status, headers=response.raw_headers, stream=stream, request=request,
            extensions={"http_version": b"HTTP/1.1",
                        "reason_phrase": (response.reason or "").encode()},
        )
        stream.owner = reply
        return reply

    async def aclose(self) -> None:
        await self._session.close()


_CLOSED = httpx.ByteStream(b"")


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request,
                 release_slot: Callable[[], None]) -> None:
        self._response = response
        self._request = request
        self._release_slot: Callable[[], None] | None = release_slot
        # The httpx response this stream is the body of.
        self.owner: httpx.Response | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        record = request_record()
        while True:
            record.transport_wait_started()
            try:
                # readany hands over bytes as they arrive: stream chunks are
                # forwarded at once, not held back to fill a buffer.
                chunk = await content.readany()
            except Exception as exc:
                raise _httpx_error(exc, self._request) from exc
            finally:
                record.transport_wait_ended()
            if not chunk:
                return
            yield chunk

    async def aclose(self) -> None:
        # Returns a fully read connection to the pool and closes one still
        # carrying a body, which stops the upstream's work on a hang-up.
        self._response.release()
        if self._release_slot is not None:
            self._release_slot()
            self._release_slot = None
        if self.owner is not None:
            # httpx wraps this stream in one that refers back to the response:
            # a cycle that left every reply for the garbage collector to find
            # (see gateway.app.settle_memory). A closed response reads from
            # its stream no more.
            self.owner.stream, self.owner = _CLOSED, None
