"""The built-in openai plugin: keys, several instances, and its error words."""

import logging

import msgspec

from tests.conftest import OPENAI_URL, SECRET_KEY, gateway_client
from tests.test_chat import completion

GROQ_URL = "http://groq.test/v1"
GROQ_KEY = "gsk-env-secret-987654321"
HI = [{"role": "user", "content": "Hi"}]

TWO_INSTANCES = f"""
[providers.openai]
base_url = "{OPENAI_URL}"
api_key = "{SECRET_KEY}"

[providers.groq]
type = "openai"
name = "Groq"
base_url = "{GROQ_URL}"
api_key_env = "GROQ_KEY"
"""


async def test_instances_with_their_own_base_url_and_key_coexist(write_config, upstream, monkeypatch):
    monkeypatch.setenv("GROQ_KEY", GROQ_KEY)
    openai = upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion("A"))
    groq = upstream.post(f"{GROQ_URL}/chat/completions").respond(json=completion("B"))
    upstream.get(f"{OPENAI_URL}/models").respond(json={"data": [{"id": "gpt-4o-mini"}]})
    upstream.get(f"{GROQ_URL}/models").respond(json={"data": [{"id": "llama-3.1-8b-instant"}]})

    async with gateway_client(write_config(TWO_INSTANCES)) as client:
        a = await client.post("/v1/chat/completions", json={"model": "openai/gpt-4o-mini",
                                                            "messages": HI})
        b = await client.post("/v1/chat/completions", json={"model": "groq/llama-3.1-8b-instant",
                                                            "messages": HI})
        models = await client.get("/v1/models")

    assert (a.json()["choices"][0]["message"]["content"], b.json()["choices"][0]["message"]["content"]) == ("A", "B")
    assert openai.calls.last.request.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert groq.calls.last.request.headers["authorization"] == f"Bearer {GROQ_KEY}"
    assert msgspec.json.decode(groq.calls.last.request.content)["model"] == "llama-3.1-8b-instant"
    assert [m["id"] for m in models.json()["data"]] == ["openai/gpt-4o-mini",
                                                        "groq/llama-3.1-8b-instant"]


async def test_without_a_key_no_authorization_is_sent_and_a_401_says_how_to_set_one(
        write_config, upstream):
    route = upstream.post("http://vllm.test/v1/chat/completions").respond(
        401, json={"error": {"message": "unauthorized"}})
    path = write_config('[providers.vllm]\ntype = "openai"\nbase_url = "http://vllm.test/v1"\n')

    async with gateway_client(path) as client:
        reply = await client.post("/api/chat", json={"message": "Hi", "provider": "vllm",
                                                     "model": "m"})

    assert "authorization" not in route.calls.last.request.headers
    assert reply.status_code == 502
    assert reply.json()["detail"] == ("vllm wants an API key: set api_key_env (or api_key) in "
                                      "[providers.vllm] of the gateway's config")


async def test_a_key_quoted_by_the_upstream_never_reaches_the_client(write_config, upstream,
                                                                     monkeypatch):
    monkeypatch.setenv("GROQ_KEY", GROQ_KEY)
    rejected = {"error": {"message": f"Invalid API Key: {GROQ_KEY}"}}
    upstream.post(f"{GROQ_URL}/chat/completions").respond(401, json=rejected)
    upstream.get(f"{GROQ_URL}/models").respond(401, json=rejected)

    async with gateway_client(write_config(TWO_INSTANCES)) as client:
        chat = await client.post("/v1/chat/completions", json={"model": "groq/m", "messages": HI})
        check = await client.post("/api/providers/groq/check")

    assert chat.status_code == 502
    assert chat.json()["error"]["message"] == (
        "Groq refused the gateway's credentials (HTTP 401): Invalid API Key: [redacted]")
    assert GROQ_KEY not in check.text
    assert check.json()["error"].endswith("Invalid API Key: [redacted]")


async def test_the_key_is_never_logged(write_config, upstream, caplog):
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(
        500, json={"error": {"message": "boom"}})
    async with gateway_client(write_config(TWO_INSTANCES)) as client:
        # Litestar's logging set-up replaced the root handlers; listen again.
        logging.getLogger().addHandler(caplog.handler)
        caplog.set_level(logging.DEBUG)
        await client.post("/v1/chat/completions", json={"model": "openai/gpt-4o-mini",
                                                        "messages": HI, "stream": True})

    assert "chat/completions" in caplog.text
    assert SECRET_KEY not in caplog.text


async def test_a_key_written_as_a_multi_line_string_is_sent_without_its_newline(write_config,
                                                                               upstream):
    route = upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion("Hi"))
    path = write_config(f'[providers.openai]\nbase_url = "{OPENAI_URL}"\n'
                        'api_key = """\nsk-multi-line\n"""\n')

    async with gateway_client(path) as client:
        reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai"})

    assert reply.status_code == 200
    assert route.calls.last.request.headers["authorization"] == "Bearer sk-multi-line"
