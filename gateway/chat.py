"""The chat path shared by every API: hooks around one provider call.

Both ``/api/chat`` and plugin-contributed front doors (``/v1``) go through
:class:`ChatService`, so request/response adaptations apply everywhere.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from time import perf_counter
from typing import Any

import msgspec

from .errors import UnknownProvider
from .observability.context import request_record, upstream_wait
from .providers import Provider
from .types import ChatChunk, ChatRequest, ChatResponse, Choice, Message, Usage


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
        call.request.stream = False
        await self.prepare(call)
        with upstream_wait():
            response = await call.provider.chat(call.request)
        await self.finish(call, response)
        return response

    async def stream(self, call: ChatCall) -> ChatStream:
        """Start a streamed chat and wait for its first chunk.

        Waiting here means an upstream that fails before sending anything
        still gets the client a proper error status instead of a broken stream.
        """
        call.request.stream = True
        await self.prepare(call)
        stream = ChatStream(self, call)
        await stream.start()
        return stream


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
        finally:
            await self.aclose()
        self.response = ChatResponse(
            model=model or self.call.request.model,
            choices=[Choice(message=Message(role="assistant", content="".join(parts)),
                            finish_reason=finish_reason)],
            usage=usage,
        )
        await self.service.finish(self.call, self.response)
