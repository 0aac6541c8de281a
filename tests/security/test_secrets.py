"""Provider keys and the gateway's own keys never show: not in replies, error
messages, the provider list, the OpenAPI schema, nor the logs and the
tracebacks they hold, whatever goes wrong."""

import logging

import httpx
import pytest

from tests.conftest import OPENAI_URL, SECRET_KEY, gateway_client
from tests.security.conftest import ADMIN_KEY, AUTH_CONFIG, USER_KEY, bearer

ENV_KEY = "gsk-env-secret-987654321"
GROQ_URL = "http://groq.test/v1"

CONFIG = f"""
[providers.openai]
base_url = "{OPENAI_URL}"
api_key = "{SECRET_KEY}"

[providers.groq]
type = "openai"
base_url = "{GROQ_URL}"
api_key_env = "TEST_GROQ_KEY"
""" + AUTH_CONFIG

SECRETS = [SECRET_KEY, ENV_KEY, USER_KEY, ADMIN_KEY]


def echoing(request: httpx.Request) -> httpx.Response:
    """An upstream that quotes the credentials it got back in its error."""
    sent = request.headers["authorization"]
    return httpx.Response(401, json={"error": {"message": f"Invalid key: {sent}"}})


def echoing_text(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, text=f"crash; auth was {request.headers['authorization']}")


@pytest.fixture
async def gateway(write_config, gateway_keys, monkeypatch, upstream):
    # A trailing newline, as `echo key > file` leaves it.
    monkeypatch.setenv("TEST_GROQ_KEY", ENV_KEY + "\n")
    async with gateway_client(write_config(CONFIG)) as client:
        yield client


async def every_reply(client, upstream):
    """Drive the gateway through its success and failure paths; return the replies."""
    user, admin = bearer(USER_KEY), bearer(ADMIN_KEY)
    chat = {"message": "Hi", "provider": "openai"}
    openai_chat = upstream.post(f"{OPENAI_URL}/chat/completions")
    replies = []
    for upstream_behaviour in (
        dict(side_effect=echoing), dict(side_effect=echoing_text),
        dict(side_effect=httpx.ConnectError("refused")),
        dict(side_effect=httpx.ReadTimeout("slow")),
        dict(side_effect=RuntimeError("a bug somewhere")),
    ):
        openai_chat.mock(**upstream_behaviour)
        replies.append(await client.post("/api/chat", json=chat, headers=user))
        replies.append(await client.post("/api/chat", json={**chat, "stream": True},
                                         headers=user))
    upstream.post(f"{GROQ_URL}/chat/completions").mock(side_effect=echoing)
    upstream.get(f"{GROQ_URL}/models").mock(side_effect=echoing)
    upstream.get(f"{OPENAI_URL}/models").mock(side_effect=echoing_text)
    replies.append(await client.post("/api/chat", json={**chat, "provider": "groq"},
                                     headers=user))
    replies.append(await client.post("/api/providers/groq/check", headers=admin))
    replies.append(await client.post("/api/providers/openai/check", headers=admin))
    replies.append(await client.get("/api/providers", headers=user))
    replies.append(await client.get("/api/plugins", headers=admin))
    replies.append(await client.get("/api/providers", headers=bearer(USER_KEY + "x")))
    replies.append(await client.get("/docs/openapi.json"))
    return replies


async def test_no_key_appears_in_any_reply_or_log_line(gateway, upstream, caplog):
    caplog.set_level(logging.DEBUG)

    replies = await every_reply(gateway, upstream)

    seen = "\n".join(f"{r.status_code} {r.headers} {r.text}" for r in replies)
    seen += "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    assert [s for s in SECRETS if s in seen] == []


async def test_an_echoed_key_is_shown_as_redacted(gateway, upstream):
    upstream.post(f"{OPENAI_URL}/chat/completions").mock(side_effect=echoing)

    reply = await gateway.post("/api/chat", json={"message": "Hi", "provider": "openai"},
                               headers=bearer(USER_KEY))

    assert reply.json()["detail"] == (
        "OpenAI refused the gateway's credentials (HTTP 401): Invalid key: [redacted]")


async def test_a_key_from_the_environment_is_sent_without_its_trailing_newline(gateway, upstream):
    route = upstream.post(f"{GROQ_URL}/chat/completions").respond(json={
        "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]})

    reply = await gateway.post("/api/chat", json={"message": "Hi", "provider": "groq"},
                               headers=bearer(USER_KEY))

    assert reply.status_code == 200
    assert route.calls.last.request.headers["authorization"] == f"Bearer {ENV_KEY}"


async def test_a_password_in_base_url_is_sent_but_never_shown(write_config, upstream, caplog):
    config = ('[providers.vllm]\ntype = "openai"\n'
              'base_url = "http://gw:pw-secret-314@vllm.test/v1"\n')
    route = upstream.post("http://vllm.test/v1/chat/completions").mock(
        side_effect=httpx.ConnectError("refused"))
    upstream.get("http://vllm.test/v1/models").mock(side_effect=httpx.ConnectError("refused"))

    with caplog.at_level(logging.DEBUG):
        async with gateway_client(write_config(config)) as client:
            chat = await client.post("/api/chat", json={"message": "Hi", "provider": "vllm"})
            providers = await client.get("/api/providers")

    assert route.calls.last.request.headers["authorization"].startswith("Basic ")
    assert chat.json()["detail"] == "vllm is not reachable at http://vllm.test/v1"
    assert providers.json()["providers"][0]["base_url"] == "http://vllm.test/v1"
    assert "pw-secret-314" not in chat.text + providers.text + caplog.text
