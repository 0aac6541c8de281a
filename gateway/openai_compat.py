"""A provider base for upstreams that speak OpenAI's chat-completions API.

OpenAI, vLLM, LM Studio, Groq, llama.cpp's server and Ollama's ``/v1`` layer
all speak it, so provider plugins subclass this rather than each writing its
own HTTP code. It holds one long-lived ``httpx.AsyncClient`` per provider
instance and translates every failure into the gateway's error taxonomy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec

from .errors import (
    BadRequest,
    BadUpstreamReply,
    GatewayError,
    ModelNotFound,
    RateLimited,
    UpstreamBusy,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from .http_client import UpstreamClient
from .observability.context import current_request_id
from .providers import Provider, ProviderConfig
from .types import ChatChunk, ChatRequest, ChatResponse, ModelInfo

_encode = msgspec.json.Encoder().encode
_decode_response = msgspec.json.Decoder(ChatResponse).decode
_decode_chunk = msgspec.json.Decoder(ChatChunk).decode


class _ModelList(msgspec.Struct):
    data: list[ModelInfo]


class _ErrorEvent(msgspec.Struct):
    """What an error event in a stream may hold: OpenAI's ``{"error": ...}``,
    or vLLM's ``{"object": "error", "message": ...}``."""

    error: Any = None
    object: Any = None
    message: Any = None


_decode_models = msgspec.json.Decoder(_ModelList).decode
_decode_error_event = msgspec.json.Decoder(_ErrorEvent).decode

_JSON = {"Content-Type": "application/json"}


def _headers(base: dict[str, str] | None = None) -> dict[str, str] | None:
    """``base`` plus the client's request id, so upstream logs can be matched."""
    request_id = current_request_id()
    if request_id is None:
        return base
    return {**(base or {}), "X-Request-ID": request_id}


class OpenAICompatibleProvider(Provider):
    """Chat, streaming, model list and health check over OpenAI's HTTP API.

    Subclasses adapt behaviour by overriding :meth:`request_body` (what is
    sent) and :meth:`transport_error` / :meth:`status_error` (how failures are
    described to the user).
    """

    client: httpx.AsyncClient

    @classmethod
    def check_config(cls, config: ProviderConfig) -> None:
        if config.resolved_api_key() and httpx.URL(config.base_url).userinfo:
            # httpx would send the user:password as Basic auth in place of
            # the key: one Authorization header cannot carry both.
            raise ValueError("base_url has a user:password@ and api_key (or api_key_env) a key, "
                             "and only one of them can be sent (both are the Authorization "
                             "header): keep one")

    async def start(self) -> None:
        self._urls: dict[str, httpx.URL] = {}
        cfg = self.config
        headers = {}
        key = cfg.resolved_api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        limits = httpx.Limits(
            max_connections=cfg.max_connections,
            max_keepalive_connections=cfg.max_connections,
        )
        self.client = UpstreamClient(
            base_url=cfg.base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(
                cfg.timeout, connect=cfg.connect_timeout, pool=cfg.pool_timeout
            ),
            limits=limits,
        )

    async def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            await client.aclose()

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body sent to ``/chat/completions`` for ``request``."""
        body: dict[str, Any] = dict(request.extra)
        body["model"] = request.model
        body["messages"] = request.messages
        body["stream"] = request.stream
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.stream:
            # Ask for the usage chunk; the front door drops it again for
            # clients that did not ask for it.
            body["stream_options"] = {"include_usage": True}
        return body

    async def chat(self, request: ChatRequest) -> ChatResponse:
        response = await self._send("POST", "/chat/completions", self.request_body(request))
        try:
            return _decode_response(response.content)
        except (msgspec.DecodeError, RecursionError) as exc:
            raise BadUpstreamReply(
                f"{self.name} sent a chat reply the gateway cannot read: {exc}"
            ) from None

    async def chat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        http_request = self.client.build_request(
            "POST", self.url("/chat/completions"), content=_encode(self.request_body(request)),
            headers=_headers(_JSON),
        )
        try:
            response = await self.client.send(http_request, stream=True)
        except httpx.HTTPError as exc:
            raise self.transport_error(exc) from None
        try:
            if response.status_code >= 400:
                await response.aread()
                raise self.status_error(response)
            async for data in _sse_data(response):
                if data == b"[DONE]":
                    return
                try:
                    # Every field of a chunk is optional, so an error event
                    # would decode as an empty chunk. The key is searched for
                    # first: inside a string the quotes would be escaped.
                    if b'"error"' in data:
                        self._raise_error_event(data, response.request)
                    yield _decode_chunk(data)
                except (msgspec.DecodeError, RecursionError) as exc:
                    raise BadUpstreamReply(
                        f"{self.name} sent a stream chunk the gateway cannot read: {exc}"
                    ) from None
            # Ollama, for one, closes a stream that failed midway without an
            # error event: only the missing [DONE] tells it from a short answer.
            raise UpstreamError(
                f"{self.name} ended the stream without finishing it (no [DONE]); "
                "the reply is cut short"
            )
        except httpx.HTTPError as exc:
            raise self.transport_error(exc) from None
        finally:
            # Also runs when the client hangs up: closing the response drops
            # the upstream connection, which stops the upstream's work.
            await response.aclose()

    def _raise_error_event(self, data: bytes, request: httpx.Request) -> None:
        event = _decode_error_event(data)
        if event.error is not None:
            error = event.error
        elif event.object == "error":
            error = event.message
        else:
            return  # a chunk that merely mentions "error"
        if isinstance(error, dict):
            error = error.get("message") or error
        text = _redacted(str(error), request)
        raise UpstreamError(f"{self.name} reported an error in its stream: {text}")

    async def list_models(self) -> list[ModelInfo]:
        response = await self._send("GET", "/models")
        try:
            return _decode_models(response.content).data
        except (msgspec.DecodeError, RecursionError) as exc:
            raise BadUpstreamReply(
                f"{self.name} sent a model list the gateway cannot read: {exc}"
            ) from None

    def url(self, path: str) -> httpx.URL:
        """The absolute URL of ``path`` under the provider's ``base_url``."""
        # httpx parses a relative URL and joins it to base_url on every
        # request, a tenth of the gateway's CPU per chat in `make bench`;
        # an absolute httpx.URL it takes as it is.
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = self.client.build_request("GET", path).url
        return url

    async def _send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        url = self.url(path)
        try:
            if body is None:
                response = await self.client.request(method, url, headers=_headers())
            else:
                response = await self.client.request(
                    method, url, content=_encode(body), headers=_headers(_JSON),
                )
        except httpx.HTTPError as exc:
            raise self.transport_error(exc) from None
        if response.status_code >= 400:
            raise self.status_error(response)
        return response

    def request_headers(self, headers: dict[str, str] | None = None) -> dict[str, str] | None:
        """``headers`` plus the ``X-Request-ID`` of the request being served.

        For calls a subclass makes upstream itself (beyond chat and the model
        list), so that every one of them can be found in the upstream's logs.
        """
        return _headers(headers)

    def redacted(self, text: str, request: httpx.Request) -> str:
        """``text`` from the upstream with the credentials ``request`` carried
        blanked out, for upstream words shown to clients that are not an error
        reply (see :meth:`error_detail`), such as an error line in a stream."""
        return _redacted(text, request)

    def error_detail(self, response: httpx.Response) -> str:
        """The human text of an upstream error reply, in OpenAI's or Ollama's shape.

        Credentials the request carried are blanked out: some upstreams echo
        the key they were sent, and this text is shown to the gateway's
        clients. An override of :meth:`status_error` should build its
        messages from this, not from the reply itself.
        """
        return _redacted(_error_parts(response)[0], response.request)

    def transport_error(self, exc: httpx.HTTPError) -> GatewayError:
        """The gateway error for a request that got no usable HTTP answer."""
        where = self.config.shown_base_url()
        if isinstance(exc, httpx.PoolTimeout):
            return UpstreamBusy(
                f"All {self.config.max_connections} connections to {self.name} are in use and "
                f"none came free within {self.config.pool_timeout:g} s; try again later"
            )
        if isinstance(exc, httpx.TimeoutException):
            cfg = self.config
            limit = cfg.connect_timeout if isinstance(exc, httpx.ConnectTimeout) else cfg.timeout
            return UpstreamTimeout(
                f"{self.name} at {where} did not answer within {limit:g} s ({type(exc).__name__})"
            )
        if isinstance(exc, httpx.ConnectError):
            return UpstreamUnreachable(f"{self.name} is not reachable at {where}")
        return UpstreamError(f"The connection to {self.name} at {where} failed: {type(exc).__name__}")

    def status_error(self, response: httpx.Response) -> GatewayError:
        """The gateway error for an upstream answer with status >= 400."""
        text, theirs = _error_parts(response)
        detail = _redacted(text, response.request)
        status = response.status_code
        if status == 404:
            return ModelNotFound(f"{self.name}: {detail}", **theirs)
        retry = response.headers.get("retry-after")
        if status == 429:
            return RateLimited(
                f"{self.name} is rate limiting requests: {detail}",
                headers={"Retry-After": retry} if retry else None, **theirs,
            )
        if status == 503:
            # RFC 9110's "temporary overload": Ollama with its queue full
            # (OLLAMA_MAX_QUEUE), OpenAI's "engine is currently overloaded".
            # Whoever sends it means "later, or elsewhere", not that the
            # request or the upstream is broken.
            return UpstreamBusy(
                f"{self.name} is too busy to take the request (HTTP 503): {detail}",
                headers={"Retry-After": retry} if retry else None, **theirs,
            )
        if status in (400, 422):
            return BadRequest(f"{self.name} rejected the request: {detail}", **theirs)
        if status in (401, 403):
            return UpstreamError(
                f"{self.name} refused the gateway's credentials (HTTP {status}): {detail}"
            )
        return UpstreamError(f"{self.name} answered HTTP {status}: {detail}")


async def _sse_data(response: httpx.Response) -> AsyncIterator[bytes]:
    """The payload of each ``data:`` line of a Server-Sent Events reply, as it arrives.

    Blank separators, comments and ``event:`` lines are skipped. The bytes are
    split here rather than with httpx's ``aiter_lines``, whose text decoding
    and generator layers doubled the parsing cost of a streamed chat.
    """
    rest = b""
    async for data in response.aiter_bytes():
        lines = (rest + data).splitlines(keepends=True)
        # A line still missing its end waits for the next read.
        rest = b"" if lines[-1].endswith((b"\n", b"\r")) else lines.pop()
        for line in lines:
            if line.startswith(b"data:"):
                yield line[5:].strip()
    if rest.startswith(b"data:"):
        yield rest[5:].strip()


# Request headers that carry an upstream credential.
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "api-key")


def _redacted(text: str, request: httpx.Request) -> str:
    """``text`` with the credentials ``request`` carried blanked out."""
    for name in _CREDENTIAL_HEADERS:
        value = request.headers.get(name, "")
        # Both "Bearer <key>" and the bare key.
        for secret in (value, value.partition(" ")[2]):
            if secret:
                text = text.replace(secret, "[redacted]")
    return text


def _error_parts(response: httpx.Response) -> tuple[str, dict[str, str]]:
    """An error reply's human text, in OpenAI's or Ollama's shape, and from
    OpenAI's its ``param`` and ``code`` (as ``upstream_code``), where given:
    the client's SDK may switch on them."""
    try:
        body = msgspec.json.decode(response.content)
    except (msgspec.DecodeError, RecursionError):
        text = response.text.strip()
        return text[:500] or response.reason_phrase, {}
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str) and error:
        return error, {}
    if not isinstance(error, dict):
        return response.text[:500], {}
    fields = {"param": error.get("param"), "upstream_code": error.get("code")}
    theirs = {name: value for name, value in fields.items() if isinstance(value, str) and value}
    message = error.get("message")
    return (str(message) if message else response.text[:500]), theirs
