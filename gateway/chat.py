"""The chat path shared by every API: hooks around one provider call.

Every chat API (``/api/chat``, ``/v1/chat/completions``, plugin routes) goes
through :class:`ChatService`, so request/response adaptations and fallbacks
apply everywhere.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from time import perf_counter
from typing import Any, TypeVar
from urllib.parse import quote

import msgspec

from .errors import GatewayError, InternalError, UnknownProvider
from .observability.context import request_record, upstream_wait
from .providers import Provider
from .types import ChatChunk, ChatRequest, ChatResponse, Choice, Message, Usage

log = logging.getLogger("gateway")

T = TypeVar("T")

#: Reply headers naming the provider and model that answered, which differ
#: from the requested ones when a fallback answered.
PROVIDER_HEADER = "X-Gateway-Provider"
MODEL_HEADER = "X-Gateway-Model"
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7f) if chr(c) != "%")
_HEADER_PLAIN = re.compile(f"[{re.escape(_HEADER_SAFE)}]*")


class ChatCall(msgspec.Struct, kw_only=True):
    """One chat as the chat hooks see it."""

    provider: Provider
    request: ChatRequest
    # Headers to add to the client's reply.
    response_headers: dict[str, str] = msgspec.field(default_factory=dict)
    # Free space for hooks to carry things from request to response.
    state: dict[str, Any] = msgspec.field(default_factory=dict)


async def _run(results: list[Any]) -> None:
    for result in results:
        if inspect.isawaitable(result):
            await result


class ChatService:
    def __init__(self, hook: Any, providers: dict[str, Provider]) -> None:
        self.hook = hook
        self.providers = providers

    def provider(self, provider_id: str) -> Provider:
        """The enabled provider ``provider_id``, or :class:`UnknownProvider`."""
        provider = self.providers.get(provider_id)
        if provider is None or not provider.config.enabled:
            available = ", ".join(sorted(self.enabled_ids())) or "none"
            state = "disabled" if provider else "not configured"
            raise UnknownProvider(
                f"Provider {provider_id!r} is {state}. Available providers: {available}"
            )
        return provider

    def enabled_ids(self) -> list[str]:
        return [pid for pid, p in self.providers.items() if p.config.enabled]

    async def prepare(self, call: ChatCall) -> None:
        """Run the request hooks; call before sending ``call.request``."""
        request_record().call = call
        await _run(self.hook.gateway_chat_request(call=call))

    async def finish(self, call: ChatCall, response: ChatResponse) -> None:
        await _run(self.hook.gateway_chat_response(call=call, response=response))
        request_record().response = response

    async def complete(self, call: ChatCall) -> ChatResponse:
        """Run the chat; on return ``call`` names the provider that answered."""
        call.request.stream = False

        async def attempt(call: ChatCall) -> ChatResponse:
            with upstream_wait():
                response = await call.provider.chat(call.request)
            await self.finish(call, response)
            return response

        return await self._with_fallbacks(call, attempt)

    async def stream(self, call: ChatCall) -> ChatStream:
        """Start a streamed chat and wait for its first chunk.

        Waiting here means an upstream that fails before sending anything
        still gets the client a proper error status instead of a broken
        stream, and the provider's fallbacks can still be tried.
        """
        call.request.stream = True

        async def attempt(call: ChatCall) -> ChatStream:
            stream = ChatStream(self, call)
            await stream.start()
            return stream

        return await self._with_fallbacks(call, attempt)

    async def _with_fallbacks(
        self, call: ChatCall, attempt: Callable[[ChatCall], Awaitable[T]]
    ) -> T:
        """Run ``attempt`` on ``call``, then on each of the provider's
        fallbacks while the failure is one another upstream may not have.

        A fallback gets the request as the client sent it, before any hook
        adapted it for the provider that failed; ``call`` is updated in place
        so the route sees who answered.
        """
        fallbacks = iter(call.provider.config.fallbacks)
        # Copied only when needed: most providers have no fallbacks.
        original = _copy(call.request) if call.provider.config.fallbacks else call.request
        while True:
            try:
                await self.prepare(call)
                result = await attempt(call)
            except GatewayError as exc:
                target = self._next_fallback(fallbacks) if _worth_a_fallback(exc) else None
                if target is None:
                    raise
                provider, model = target
                log.warning("%s failed (%s); falling back to %s/%s",
                            call.provider.id, exc.message, provider.id, model)
                call.provider, call.request = provider, _copy(original, model)
                call.response_headers, call.state = {}, {}
                continue
            call.response_headers[PROVIDER_HEADER] = call.provider.id
            call.response_headers[MODEL_HEADER] = _header_value(call.request.model)
            return result

    def _next_fallback(self, fallbacks: Iterator[str]) -> tuple[Provider, str] | None:
        for target in fallbacks:
            provider_id, _, model = target.partition("/")
            provider = self.providers.get(provider_id)
            if provider is None or not provider.config.enabled:
                log.info("fallback %s skipped: provider %r is not enabled", target, provider_id)
                continue
            return provider, model or provider.config.model
        return None


def _header_value(name: str) -> str:
    # Header values are Latin-1 on the wire; a model name may not be. Most
    # are plain ASCII, which goes as it is without quote()'s own walk.
    if _HEADER_PLAIN.fullmatch(name):
        return name
    return quote(name, safe=_HEADER_SAFE)


def _worth_a_fallback(exc: GatewayError) -> bool:
    # Rate limits and upstream failures belong to one upstream; a bad request
    # or an unknown model would fail the same way anywhere else.
    return exc.status_code == 429 or exc.status_code >= 500


def _copy(request: ChatRequest, model: str | None = None) -> ChatRequest:
    # Hooks change requests in place; copy the containers they may change.
    return msgspec.structs.replace(
        request, model=model or request.model, messages=list(request.messages),
        extra=dict(request.extra),
    )


class ChatStream:
    """A streamed reply: iterate for chunks, then read :attr:`response`.

    Once the chunks are exhausted, ``response`` holds the joined text and the
    usage (the provider's, or what the response hooks filled in).
    """

    def __init__(self, service: ChatService, call: ChatCall) -> None:
        self.service = service
        self.call = call
        self.response: ChatResponse | None = None
        self._chunks: AsyncIterator[ChatChunk] = call.provider.chat_stream(call.request)
        self._first: ChatChunk | None = None
        self._upstream = upstream_wait()

    async def start(self) -> None:
        self._first = await self._next()
        self._upstream.first_chunk_at = perf_counter()

    async def _next(self) -> ChatChunk | None:
        with self._upstream:
            return await anext(self._chunks, None)

    async def aclose(self) -> None:
        """Stop the upstream stream; safe to call more than once."""
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        parts: list[str] = []
        usage: Usage | None = None
        chunk = self._first
        model = chunk.model if chunk else ""
        finish_reason = None
        try:
            while chunk is not None:
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.choices:
                    parts.append(chunk.text)
                    finish_reason = chunk.choices[0].finish_reason or finish_reason
                yield chunk
                chunk = await self._next()
            self.response = ChatResponse(
                model=model or self.call.request.model,
                choices=[Choice(message=Message(role="assistant", content="".join(parts)),
                                finish_reason=finish_reason)],
                usage=usage,
            )
            await self.service.finish(self.call, self.response)
        except GatewayError:
            raise
        except Exception as exc:
            # The reply has begun: the routes can still end it with an error
            # event, where anything but a GatewayError would cut it off.
            log.exception("unhandled error in a chat stream from %s", self.call.provider.id)
            raise InternalError() from exc
        finally:
            await self.aclose()
