"""Providers that speak OpenAI's API: OpenAI itself and any compatible server."""

from gateway import hookimpl

from .provider import OpenAIProvider


@hookimpl
def gateway_provider_types(register):
    register("openai", OpenAIProvider)
