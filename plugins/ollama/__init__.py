"""Ollama: chat through its OpenAI-compatible layer, adapted to its quirks."""

from gateway import hookimpl

from .adapt import estimate_usage, strip_max_tokens
from .provider import OllamaProvider


@hookimpl
def gateway_provider_types(register):
    register("ollama", OllamaProvider)


@hookimpl
def gateway_chat_request(call):
    if isinstance(call.provider, OllamaProvider):
        strip_max_tokens(call)


@hookimpl
def gateway_chat_response(call, response):
    if isinstance(call.provider, OllamaProvider):
        estimate_usage(response)
