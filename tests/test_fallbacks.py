"""Fallback providers (ChatService): tried in order when the first fails
before answering. Shown through /api/chat; the SDK tests in
test_openai_front_door.py show the same through /v1."""

import httpx
import msgspec
import pytest

from gateway.app import create_app
from gateway.config import ConfigError
from tests.conftest import OLLAMA_URL, OPENAI_URL, SECRET_KEY, gateway_client
from tests.test_chat import chunk, completion, sse

GROQ_URL = "http://groq.test/v1"

CONFIG = f"""
[providers.ollama]
enabled = true
base_url = "{OLLAMA_URL}"
fallbacks = ["groq/llama-3.1-8b-instant", "openai"]

[providers.groq]
type = "openai"
base_url = "{GROQ_URL}"

[providers.openai]
base_url = "{OPENAI_URL}"
api_key = "{SECRET_KEY}"
"""


@pytest.fixture
async def client(write_config):
    async with gateway_client(write_config(CONFIG)) as client:
        yield client


def sent(route):
    return msgspec.json.decode(route.calls.last.request.content)


@pytest.mark.parametrize("failure", [
    httpx.ConnectError("refused"), httpx.ReadTimeout("slow"),
    httpx.Response(429, headers={"retry-after": "3"}), httpx.Response(500, text="boom"),
    httpx.Response(503, text="overloaded"),
], ids=["503", "504", "429", "500", "upstream-503"])
async def test_api_chat_falls_back_when_the_first_provider_fails(client, upstream, failure):
    upstream.post(f"{OLLAMA_URL}/chat/completions").mock(side_effect=[failure])
    groq = upstream.post(f"{GROQ_URL}/chat/completions").respond(json=completion("From Groq"))

    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "ollama"})

    assert reply.status_code == 200
    assert (reply.json()["response"], reply.json()["provider"], reply.json()["model"]) == (
        "From Groq", "groq", "llama-3.1-8b-instant")
    assert reply.headers["x-gateway-provider"] == "groq"
    assert sent(groq)["model"] == "llama-3.1-8b-instant"


@pytest.mark.parametrize("status", [400, 404])
async def test_client_errors_are_not_retried_elsewhere(write_config, upstream, status):
    path = write_config(f"""
        [providers.openai]
        base_url = "{OPENAI_URL}"
        fallbacks = ["groq/llama-3.1-8b-instant"]
        [providers.groq]
        type = "openai"
        base_url = "{GROQ_URL}"
    """)
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(status, json={"error": "no"})
    groq = upstream.post(f"{GROQ_URL}/chat/completions")

    async with gateway_client(path) as client:
        reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai"})

    assert reply.status_code == status
    assert not groq.called


async def test_fallbacks_are_tried_in_order_a_bare_id_using_its_default_model(client, upstream):
    upstream.post(f"{OLLAMA_URL}/chat/completions").mock(side_effect=httpx.ConnectError("x"))
    upstream.post(f"{GROQ_URL}/chat/completions").respond(503, text="down")
    openai = upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion())

    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "ollama"})

    assert (reply.json()["provider"], reply.json()["model"]) == ("openai", "gpt-4o-mini")
    assert (reply.headers["x-gateway-provider"], reply.headers["x-gateway-model"]) == (
        "openai", "gpt-4o-mini")
    assert sent(openai)["model"] == "gpt-4o-mini"


async def test_a_fallback_gets_the_request_before_the_first_providers_hooks(client, upstream):
    ollama = upstream.post(f"{OLLAMA_URL}/chat/completions").respond(500)
    groq = upstream.post(f"{GROQ_URL}/chat/completions").respond(json=completion())

    await client.post("/api/chat", json={"message": "Hi", "provider": "ollama", "max_tokens": 30})

    assert "max_tokens" not in sent(ollama)
    assert sent(groq)["max_tokens"] == 30


async def test_when_every_fallback_fails_the_last_failure_is_reported(client, upstream):
    upstream.post(f"{OLLAMA_URL}/chat/completions").mock(side_effect=httpx.ConnectError("x"))
    upstream.post(f"{GROQ_URL}/chat/completions").mock(side_effect=httpx.ConnectError("x"))
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(
        429, json={"error": {"message": "quota"}}, headers={"retry-after": "9"})

    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "ollama"})

    assert reply.status_code == 429
    assert reply.headers["retry-after"] == "9"
    assert reply.json()["detail"] == "OpenAI is rate limiting requests: quota"


async def test_a_disabled_fallback_is_skipped(write_config, upstream):
    upstream.post(f"{OLLAMA_URL}/chat/completions").mock(side_effect=httpx.ConnectError("x"))
    groq = upstream.post(f"{GROQ_URL}/chat/completions")
    openai = upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion())
    path = write_config(CONFIG.replace(f'base_url = "{GROQ_URL}"',
                                       f'base_url = "{GROQ_URL}"\nenabled = false'))

    async with gateway_client(path) as client:
        reply = await client.post("/api/chat", json={"message": "Hi", "provider": "ollama"})

    assert reply.json()["provider"] == "openai"
    assert not groq.called and openai.called


async def test_stream_falls_back_when_the_first_fails_before_its_first_chunk(client, upstream):
    upstream.post(f"{OLLAMA_URL}/chat/completions").respond(503, text="loading")
    upstream.post(f"{GROQ_URL}/chat/completions").respond(
        content=sse(chunk("From "), chunk("Groq"), chunk(finish="stop"), "[DONE]"),
        headers={"content-type": "text/event-stream"})

    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "ollama",
                                                 "stream": True})

    assert reply.headers["x-gateway-provider"] == "groq"
    done = msgspec.json.decode(reply.text.strip().split("\n\n")[-1].split("data: ", 1)[1])
    assert (done["response"], done["provider"]) == ("From Groq", "groq")


async def test_stream_failing_after_its_first_chunk_is_not_retried(client, upstream):
    upstream.post(f"{OLLAMA_URL}/chat/completions").respond(
        content=sse(chunk("Hel"), "{broken"), headers={"content-type": "text/event-stream"})
    groq = upstream.post(f"{GROQ_URL}/chat/completions")

    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "ollama",
                                                 "stream": True})

    events = reply.text.strip().split("\n\n")
    assert events[0] == 'data: {"content":"Hel"}'
    assert events[1].startswith("event: error\n")
    assert not groq.called


@pytest.mark.parametrize("fallbacks", ['["claude/opus"]', '["groq/"]'])
def test_a_fallback_naming_no_configured_provider_or_model_stops_start_up(write_config, fallbacks):
    path = write_config(CONFIG.replace('fallbacks = ["groq/llama-3.1-8b-instant", "openai"]',
                                       f"fallbacks = {fallbacks}"))

    with pytest.raises(ConfigError) as info:
        create_app(path)

    target = fallbacks.strip('[]"')
    assert str(info.value) == (
        f"{path}: providers.ollama.fallbacks: '{target}' is not \"<provider id>/<model>\" "
        "or \"<provider id>\" of a configured provider")
