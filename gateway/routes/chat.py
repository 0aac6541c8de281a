"""``POST /api/chat``: the gateway's own chat API, plain or streamed (SSE)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec
from litestar import post
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)
from litestar.types import ASGIApp, Receive, Scope, Send

from ..chat import ChatCall, ChatService, ChatStream
from ..error_handlers import UPSTREAM_FAILURES, documented_errors
from ..errors import BadRequest, GatewayError
from ..types import ChatRequest, MaxTokens, Message, SafeName, Usage
from .fast_path import serve_directly
from .wire import body_schema, decode_body, read_body, send_events, send_json

_encode = msgspec.json.Encoder().encode


class HistoryMessage(msgspec.Struct):
    role: Literal["system", "user", "assistant"]
    content: Annotated[str, msgspec.Meta(min_length=1)]


class ApiChatRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    message: Annotated[str, msgspec.Meta(min_length=1)]
    provider: SafeName
    system_prompt: str | None = None
    model: SafeName | None = None
    history: list[HistoryMessage] = msgspec.field(default_factory=list)
    max_tokens: MaxTokens | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    stream: bool = False


class ApiChatResponse(msgspec.Struct, kw_only=True):
    response: str
    provider: str
    model: str
    tokens_used: int
    usage: Usage


def _chat_call(service: ChatService, data: ApiChatRequest) -> ChatCall:
    provider = service.provider(data.provider)
    model = data.model or provider.config.model
    if not model:
        raise BadRequest(
            f"No model given, and provider {provider.id!r} has no default model in its config"
        )
    messages = []
    if data.system_prompt:
        messages.append(Message(role="system", content=data.system_prompt))
    messages.extend(Message(role=m.role, content=m.content) for m in data.history)
    messages.append(Message(role="user", content=data.message))
    request = ChatRequest(model=model, messages=messages, max_tokens=data.max_tokens,
                          temperature=data.temperature)
    return ChatCall(provider=provider, request=request)


def _reply(call: ChatCall, text: str, usage: Usage | None, model: str) -> ApiChatResponse:
    usage = usage or Usage()
    return ApiChatResponse(response=text, provider=call.provider.id, model=model,
                           tokens_used=usage.total_tokens, usage=usage)


def _event(name: str, data: Schema | Reference) -> Schema:
    return Schema(type=OpenAPIType.OBJECT, required=["event", "data"], properties={
        "event": Schema(const=name),
        "data": Schema(type=OpenAPIType.STRING, content_media_type="application/json",
                       content_schema=data),
    })


_STREAM_EVENTS = Schema(one_of=[
    _event("message", Schema(type=OpenAPIType.OBJECT, required=["content"],
                             properties={"content": Schema(type=OpenAPIType.STRING)})),
    _event("done", Reference("#/components/schemas/ApiChatResponse")),
    _event("error", Schema(type=OpenAPIType.OBJECT, required=["status_code", "error", "detail"],
                           properties={"status_code": Schema(type=OpenAPIType.INTEGER),
                                       "error": Schema(type=OpenAPIType.STRING),
                                       "detail": Schema(type=OpenAPIType.STRING)})),
])


_BODY = body_schema(ApiChatRequest, "A message for a provider, with optional history")
_decode_request = msgspec.json.Decoder(ApiChatRequest)


@dataclass
class _ChatOperation(Operation):
    """The OpenAPI operation: the body the route reads, and a 200 that may
    also be an event stream."""

    def __post_init__(self) -> None:
        self.request_body = _BODY
        ok = self.responses["200"] if self.responses else None
        if isinstance(ok, OpenAPIResponse) and ok.content is not None:
            ok.content["text/event-stream"] = OpenAPIMediaType(schema=_STREAM_EVENTS)


def chat_route(service: ChatService, max_body_bytes: int) -> HTTPRouteHandler:
    """``POST /api/chat``, served by ``service`` (see :mod:`gateway.routes.wire`)."""

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        data = decode_body(await read_body(scope, receive, max_body_bytes), _decode_request)
        call = _chat_call(service, data)
        # Read from ``call`` after the chat: a fallback may have answered.
        if not data.stream:
            response = await service.complete(call)
            reply = _reply(call, response.text, response.usage, call.request.model)
            await send_json(send, _encode(reply), call.response_headers)
            return
        stream = await service.stream(call)
        await send_events(send, _sse(call, stream, call.request.model), call.response_headers)

    @post("/api/chat", status_code=200, summary="Chat with a provider", tags=["chat"],
          operation_class=_ChatOperation,
          responses={200: ResponseSpec(ApiChatResponse, description="The reply, or its stream"),
                     **documented_errors("/api/chat", {
                         400: "The body is not a valid chat request, or names an unknown "
                              "provider", **UPSTREAM_FAILURES})},
          description="With `stream: true` the reply is Server-Sent Events: one `data` event "
          "per chunk (`{\"content\": ...}`), then an `event: done` with the usage, or an "
          "`event: error` if the upstream fails mid-stream.")
    async def chat() -> ASGIApp:
        return serve

    return serve_directly(chat, serve)


async def _sse(call: ChatCall, stream: ChatStream, model: str) -> AsyncGenerator[bytes, None]:
    try:
        async for chunk in stream:
            text = chunk.text
            if text:
                yield b"data: " + _encode({"content": text}) + b"\n\n"
    except GatewayError as exc:
        error = {"status_code": exc.status_code, "error": exc.kind, "detail": exc.message}
        yield b"event: error\ndata: " + _encode(error) + b"\n\n"
        return
    response = stream.response
    assert response is not None
    yield b"event: done\ndata: " + _encode(_reply(call, response.text, response.usage, model)) + b"\n\n"
