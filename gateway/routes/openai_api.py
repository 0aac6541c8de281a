"""The OpenAI-compatible front door: ``/v1/chat/completions`` and ``/v1/models``.

An OpenAI client reaches every configured provider here by naming the model
``"<provider id>/<model>"``. Chats go through :class:`ChatService` like
``/api/chat``, so the plugins' hooks and the providers' fallbacks apply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from litestar import get, post
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Operation
from litestar.params import FromPath
from litestar.types import ASGIApp, Receive, Scope, Send

from ..chat import ChatCall, ChatService, ChatStream
from ..error_handlers import UPSTREAM_FAILURES, documented_errors, openai_error
from ..errors import GatewayError, ModelNotFound
from ..providers import Provider
from ..types import ChatChunk, ChatRequest, ChatResponse, MaxTokens, Message, SafeName
from .fast_path import serve_directly
from .wire import (
    body_schema,
    decode_body,
    invalid_body,
    invalid_field,
    read_body,
    send_events,
    send_json,
)

log = logging.getLogger("gateway")

_encode = msgspec.json.Encoder().encode

_Unit = Annotated[float, msgspec.Meta(ge=0, le=1)]
_Penalty = Annotated[float, msgspec.Meta(ge=-2, le=2)]
_Positive = Annotated[int, msgspec.Meta(ge=1)]


class ChatMessage(Message, omit_defaults=True):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]


class StreamOptions(msgspec.Struct):
    # Null is OpenAI's "not set", which clients that send every field use.
    include_usage: bool | None = None


class ChatCompletionRequest(msgspec.Struct, kw_only=True):
    """The OpenAI parameters the gateway checks.

    Only the first six are read; every other key of the body, listed here or
    not, reaches the provider as it came (``ChatRequest.extra``), so new
    OpenAI parameters work without a gateway release.
    """

    model: SafeName
    messages: Annotated[list[ChatMessage], msgspec.Meta(min_length=1)]
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    max_tokens: MaxTokens | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    max_completion_tokens: MaxTokens | None = None
    top_p: _Unit | None = None
    n: _Positive | None = None
    presence_penalty: _Penalty | None = None
    frequency_penalty: _Penalty | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, msgspec.Meta(ge=0, le=20)] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    user: str | None = None


# Seconds /v1/models waits for each provider's list: a provider that hangs
# would otherwise hold the whole listing for its chat timeout (minutes for
# Ollama, which may be loading a model).
MODELS_WAIT = 10.0

_READ = frozenset({"model", "messages", "stream", "stream_options", "max_tokens", "temperature"})


class ModelCard(msgspec.Struct, kw_only=True):
    id: str
    object: str = "model"
    created: int = 0
    owned_by: str = ""


class ModelList(msgspec.Struct, kw_only=True):
    object: str = "list"
    data: list[ModelCard]


_BODY = body_schema(ChatCompletionRequest, "An OpenAI chat-completions request; any "
                    "parameter not listed is passed to the provider as it is")
_decode_object = msgspec.json.Decoder(dict[str, Any])


@dataclass
class _CompletionOperation(Operation):
    """The OpenAPI operation, with the body the route reads."""

    def __post_init__(self) -> None:
        self.request_body = _BODY


def chat_completions_route(service: ChatService, default_provider: str,
                           max_body_bytes: int) -> HTTPRouteHandler:
    """``POST /v1/chat/completions``, served by ``service`` (see :mod:`gateway.routes.wire`)."""

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        data = decode_body(await read_body(scope, receive, max_body_bytes), _decode_object)
        try:
            body = msgspec.convert(data, ChatCompletionRequest)
        except msgspec.ValidationError as exc:
            raise invalid_body(exc) from None
        provider, model = _resolve(service, default_provider, body.model)
        request = ChatRequest(
            model=model, messages=body.messages, stream=bool(body.stream),
            max_tokens=body.max_tokens, temperature=body.temperature,
            extra={k: v for k, v in data.items() if k not in _READ},
        )
        call = ChatCall(provider=provider, request=request)
        if not body.stream:
            response = await service.complete(call)
            response.model = body.model
            await send_json(send, _encode(response), call.response_headers)
            return
        stream = await service.stream(call)
        options = body.stream_options
        include_usage = options is not None and options.include_usage is True
        await send_events(send, _events(stream, body.model, include_usage),
                          call.response_headers)

    @post("/v1/chat/completions", status_code=200, summary="OpenAI-compatible chat completion",
          tags=["openai"], operation_class=_CompletionOperation,
          responses={200: ResponseSpec(ChatResponse, description="The reply, or its stream"),
                     **documented_errors("/v1", {400: "The body is not a valid chat request",
                                                 **UPSTREAM_FAILURES})},
          description="An OpenAI chat-completions request; `model` is `<provider id>/<model>` (a "
          "bare model goes to `[server] default_provider`). With `stream: true` the reply is "
          "OpenAI's SSE chunk stream ending with `data: [DONE]`. `X-Gateway-Provider` and "
          "`X-Gateway-Model` name who answered (a fallback may have).")
    async def chat_completions() -> ASGIApp:
        return serve

    return serve_directly(chat_completions, serve)


async def _events(stream: ChatStream, model: str, include_usage: bool
                  ) -> AsyncGenerator[bytes, None]:
    last: ChatChunk | None = None
    try:
        async for chunk in stream:
            last = chunk
            if chunk.usage is not None:
                # Held back: the usage the client may ask for is the one after
                # the response hooks ran (estimated where the upstream had none).
                if not chunk.choices:
                    continue
                chunk.usage = None
            chunk.model = model
            yield b"data: " + _encode(chunk) + b"\n\n"
    except GatewayError as exc:
        # The status line is long gone; OpenAI itself reports a failure
        # mid-stream as one error event and ends the stream without [DONE].
        yield b"data: " + _encode(openai_error(exc)) + b"\n\n"
        return
    if include_usage:
        assert stream.response is not None
        usage = ChatChunk(id=last.id if last else "", model=model, usage=stream.response.usage)
        if last:
            usage.created = last.created
            usage.system_fingerprint = last.system_fingerprint
        yield b"data: " + _encode(usage) + b"\n\n"
    yield b"data: [DONE]\n\n"


@get("/v1/models", summary="Models of every enabled provider", tags=["openai"],
     description="Ids are `<provider id>/<model>`; a provider that cannot be reached, or does "
     "not answer within 10 s, is left out.")
async def list_models(state: State) -> ModelList:
    service: ChatService = state.chat
    lists = await asyncio.gather(*(_models_of(service.providers[provider_id])
                                   for provider_id in service.enabled_ids()))
    return ModelList(data=[card for cards in lists for card in cards])


@get("/v1/models/{model:path}", summary="One model", tags=["openai"],
     responses=documented_errors("/v1", {400: "The name is not a valid model name",
                                         **UPSTREAM_FAILURES}))
async def get_model(state: State, model: FromPath[str]) -> ModelCard:
    service: ChatService = state.chat
    name = model.lstrip("/")
    provider, model_id = _resolve(service, state.config.server.default_provider, name)
    info = await provider.find_model(model_id)
    if info is None:
        raise ModelNotFound(f"{provider.name} has no model {model_id!r}")
    return ModelCard(id=name, created=info.created, owned_by=info.owned_by or provider.id)


async def _models_of(provider: Provider) -> list[ModelCard]:
    try:
        async with asyncio.timeout(MODELS_WAIT):
            models = await provider.list_models()
    except GatewayError as exc:
        log.info("models of %s left out of /v1/models: %s", provider.id, exc.message)
        return []
    except TimeoutError:
        log.info("models of %s left out of /v1/models: no answer within %g s",
                 provider.id, MODELS_WAIT)
        return []
    except NotImplementedError:
        return []  # a provider type that cannot list its models
    return [ModelCard(id=f"{provider.id}/{m.id}", created=m.created,
                      owned_by=m.owned_by or provider.id) for m in models]


def _resolve(service: ChatService, default_provider: str, model: str) -> tuple[Provider, str]:
    """The provider and its model name for an OpenAI ``model`` string."""
    provider_id, slash, name = model.partition("/")
    if not slash:
        if not default_provider:
            raise ModelNotFound(
                f"Model {model!r} names no provider: use \"<provider id>/<model>\" with one of: "
                f"{', '.join(service.enabled_ids()) or 'none'} (or set [server] default_provider)"
            )
        provider_id, name = default_provider, model
    provider = service.provider(provider_id)
    if not name:
        raise invalid_field("model", f"{model!r} names a provider but no model")
    return provider, name
