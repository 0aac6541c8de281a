"""Ollama: chat through its OpenAI-compatible layer, adapted to its quirks, and
model management (list, pull, show, delete, running) through its native API."""

from gateway import hookimpl

from .adapt import adapt_max_tokens, estimate_usage
from .provider import OllamaProvider
from .routes import ollama_router


@hookimpl
def gateway_provider_types(register):
    register("ollama", OllamaProvider)


@hookimpl
def gateway_routes(providers):
    ollama = {pid: p for pid, p in providers.items() if isinstance(p, OllamaProvider)}
    return [ollama_router(ollama, providers)] if ollama else []


@hookimpl
def gateway_chat_request(call):
    if isinstance(call.provider, OllamaProvider):
        adapt_max_tokens(call.request, keep=call.provider.config.keep_max_tokens)


@hookimpl
def gateway_chat_response(call, response):
    if isinstance(call.provider, OllamaProvider):
        estimate_usage(call.request, response)
