"""The Ollama provider: chat errors worded for Ollama, its health check, its config."""

import asyncio

import httpx
import pytest

from gateway.app import create_app
from plugins.ollama.provider import native_url
from tests.conftest import OLLAMA_URL, gateway_client
from tests.observability.conftest import _drop_log_handler, access_lines  # noqa: F401 (fixtures)
from tests.observability.conftest import changes, sample, scrape
from tests.test_chat import chunk, completion, sse

NATIVE = "http://ollama.test"
# What Ollama answers, with a 503, when OLLAMA_MAX_QUEUE requests already wait.
QUEUE_FULL = "server busy, please try again.  maximum pending requests exceeded"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("failure", "status", "detail"), [
    (httpx.ConnectError("refused"), 503,
     "Ollama is not running at http://ollama.test — start it with `ollama serve`"),
    (httpx.ReadTimeout("slow"), 504,
     "Ollama at http://ollama.test did not answer within 300 s; a model that is still "
     "loading can take longer (raise `timeout` in [providers.ollama])"),
    (httpx.ConnectTimeout("slow"), 504,
     "Ollama at http://ollama.test did not accept a connection within 5 s"),
    # A full pool is no slow Ollama: no advice to raise the timeout.
    (httpx.PoolTimeout("full"), 503,
     "All 100 connections to Ollama are in use and none came free within 5 s; try again later"),
])
async def test_chat_failures_reaching_ollama_say_what_to_do(
    client, upstream, stream, failure, status, detail
):
    upstream.post(f"{OLLAMA_URL}/chat/completions").mock(side_effect=failure)

    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "ollama",
                                                 "stream": stream})

    assert reply.status_code == status
    assert reply.json()["detail"] == detail


@pytest.mark.parametrize("stream", [False, True])
async def test_chat_with_a_model_ollama_lacks_is_404_with_a_hint_to_pull_it(client, upstream, stream):
    upstream.post(f"{OLLAMA_URL}/chat/completions").respond(404, json={"error": {
        "message": "model 'llama9' not found", "type": "not_found_error",
        "param": None, "code": None}})

    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "ollama",
                                                 "model": "llama9", "stream": stream})

    assert reply.status_code == 404
    assert reply.json() == {
        "status_code": 404, "error": "model_not_found",
        "detail": "Ollama: model 'llama9' not found — pull it with POST /api/providers/ollama/pull"}


@pytest.mark.parametrize(("status", "text", "expected"), [
    (400, "registry.ollama.ai/library/gemma:latest does not support tools",
     (400, "Ollama rejected the request: {}")),
    (429, "too many requests", (429, "Ollama is rate limiting requests: {}")),
    (500, "timed out waiting for llama-server to start", (502, "Ollama answered HTTP 500: {}")),
])
async def test_chat_errors_from_ollama_keep_their_meaning_and_its_message(
    client, upstream, status, text, expected
):
    upstream.post(f"{OLLAMA_URL}/chat/completions").respond(
        status, json={"error": {"message": text, "type": "api_error", "param": None, "code": None}})

    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "ollama"})

    assert (reply.status_code, reply.json()["detail"]) == (expected[0], expected[1].format(text))


def busy_reply(retry_after):
    return httpx.Response(503, headers={"retry-after": retry_after} if retry_after else None,
                          json={"error": {"message": QUEUE_FULL, "type": "api_error",
                                          "param": None, "code": None}})


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("retry_after", [None, "5"])
async def test_a_busy_ollama_is_503_upstream_busy_in_its_words(client, upstream, stream,
                                                               retry_after):
    upstream.post(f"{OLLAMA_URL}/chat/completions").mock(return_value=busy_reply(retry_after))

    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "ollama",
                                                 "stream": stream})

    assert reply.status_code == 503
    assert reply.json() == {
        "status_code": 503, "error": "upstream_busy",
        "detail": f"Ollama is too busy to take the request (HTTP 503): {QUEUE_FULL}"}
    assert reply.headers.get("retry-after") == retry_after


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("retry_after", [None, "5"])
async def test_a_busy_ollama_is_503_upstream_busy_on_v1_too(client, upstream, stream,
                                                            retry_after):
    upstream.post(f"{OLLAMA_URL}/chat/completions").mock(return_value=busy_reply(retry_after))

    reply = await client.post("/v1/chat/completions", json={
        "model": "ollama/llama3.2", "messages": [{"role": "user", "content": "Hi"}],
        "stream": stream})

    assert reply.status_code == 503
    assert reply.json() == {"error": {
        "message": f"Ollama is too busy to take the request (HTTP 503): {QUEUE_FULL}",
        "type": "api_error", "param": None, "code": "upstream_busy"}}
    assert reply.headers.get("retry-after") == retry_after


WITH_A_SPARE = f"""
[providers.ollama]
enabled = true
base_url = "{OLLAMA_URL}"
fallbacks = ["spare"]

[providers.spare]
type = "openai"
base_url = "http://spare.test/v1"
model = "spare-model"
"""


@pytest.mark.parametrize("stream", [False, True])
async def test_a_busy_ollama_hands_the_chat_to_its_fallback(write_config, upstream, stream):
    upstream.post(f"{OLLAMA_URL}/chat/completions").mock(return_value=busy_reply("5"))
    spare = upstream.post("http://spare.test/v1/chat/completions")
    if stream:
        spare.respond(content=sse(chunk("From the spare"), chunk(finish="stop"), "[DONE]"),
                      headers={"content-type": "text/event-stream"})
    else:
        spare.respond(json=completion("From the spare"))

    async with gateway_client(write_config(WITH_A_SPARE)) as client:
        before = await scrape(client)
        reply = await client.post("/api/chat", json={"message": "Hi", "provider": "ollama",
                                                     "stream": stream})
        grown = changes(before, await scrape(client))

    assert reply.status_code == 200
    assert reply.headers["x-gateway-provider"] == "spare"
    assert "From the spare" in reply.text
    errors = {k: v for k, v in grown.items() if k[0] == "gateway_upstream_errors_total"}
    assert errors == {sample("gateway_upstream_errors_total", provider="ollama",
                             kind="upstream_busy"): 1}


async def test_a_request_ollama_rejects_is_not_retried_on_a_fallback(write_config, upstream):
    path = write_config(WITH_A_SPARE)
    upstream.post(f"{OLLAMA_URL}/chat/completions").respond(400, json={"error": {
        "message": "registry.ollama.ai/library/gemma:latest does not support tools"}})
    spare = upstream.post("http://spare.test/v1/chat/completions")

    async with gateway_client(path) as client:
        reply = await client.post("/api/chat", json={"message": "Hi", "provider": "ollama"})

    assert reply.status_code == 400
    assert reply.json()["detail"] == ("Ollama rejected the request: "
                                      "registry.ollama.ai/library/gemma:latest does not support tools")
    assert not spare.called


async def test_ollama_error_text_never_shows_the_key_the_gateway_sent(write_config, upstream):
    # A proxy in front of Ollama that echoes the credentials it refused.
    path = write_config(f"""
[providers.ollama]
enabled = true
base_url = "{OLLAMA_URL}"
api_key = "sk-ollama-proxy-1234"
""")
    upstream.post(f"{OLLAMA_URL}/chat/completions").respond(
        401, json={"error": "invalid key: Bearer sk-ollama-proxy-1234"})
    upstream.post(f"{NATIVE}/api/show").respond(
        404, json={"error": "no model for key sk-ollama-proxy-1234"})

    async with gateway_client(path) as client:
        chat = await client.post("/api/chat", json={"message": "Hi", "provider": "ollama"})
        show = await client.get("/api/providers/ollama/models/llama9")

    assert chat.status_code == 502
    assert chat.json()["detail"] == ("Ollama refused the gateway's credentials (HTTP 401): "
                                     "invalid key: [redacted]")
    assert show.status_code == 404
    assert "sk-ollama-proxy" not in show.text


async def test_health_check_reads_native_tags_so_an_empty_ollama_is_connected(client, upstream):
    # /v1/models would answer {"data": null} here.
    upstream.get(f"{NATIVE}/api/tags").respond(json={"models": []})

    reply = await client.post("/api/providers/ollama/check")

    assert reply.json()["status"] == "connected"
    assert reply.json()["error"] == ""


async def test_health_check_reports_ollama_not_running(client, upstream):
    upstream.get(f"{NATIVE}/api/tags").mock(side_effect=httpx.ConnectError("refused"))

    reply = await client.post("/api/providers/ollama/check")

    assert reply.json()["status"] == "disconnected"
    assert reply.json()["error"] == (
        "Ollama is not running at http://ollama.test — start it with `ollama serve`")


async def test_model_list_comes_from_native_tags_with_unix_times(write_config, upstream):
    upstream.get(f"{NATIVE}/api/tags").respond(json={"models": [
        {"name": "llama3.2:latest", "modified_at": "2025-05-04T17:37:44.706015396-07:00"},
        {"name": "glm-4.6"}]})
    app = create_app(write_config())
    provider = app.state.providers["ollama"]
    await provider.start()
    try:
        models = await provider.list_models()
    finally:
        await provider.close()

    assert [(m.id, m.owned_by, m.created) for m in models] == [
        ("llama3.2:latest", "ollama", 1746405464), ("glm-4.6", "ollama", 0)]


async def test_two_ollamas_asked_at_once_count_their_wait_once(write_config, upstream,
                                                               access_lines):
    path = write_config(f"""
[providers.ollama]
enabled = true
base_url = "{OLLAMA_URL}"

[providers.backup]
type = "ollama"
enabled = true
base_url = "http://backup.test/v1"
""")

    async def tags_after_a_while(request):
        await asyncio.sleep(0.1)
        return httpx.Response(200, json={"models": [{"name": "llama3.2:latest"}]})

    for host in (NATIVE, "http://backup.test"):
        upstream.get(f"{host}/api/tags").mock(side_effect=tags_after_a_while)

    async with gateway_client(path) as client:
        reply = await client.get("/v1/models")

    [line] = [line for line in access_lines() if line["path"] == "/v1/models"]
    assert len(reply.json()["data"]) == 2
    # /v1/models asks both at the same time: 0.1 s of waiting, not 0.2 s.
    assert 100 <= line["upstream_ms"] <= line["duration_ms"]


@pytest.mark.parametrize(("base_url", "native"), [
    ("http://localhost:11434/v1", "http://localhost:11434"),
    ("http://localhost:11434/v1/", "http://localhost:11434"),
    ("https://gpu.example.test/ollama/v1", "https://gpu.example.test/ollama"),
    ("http://localhost:11434", "http://localhost:11434"),
])
def test_native_api_url_is_base_url_without_its_v1_suffix(base_url, native):
    assert native_url(base_url) == native


async def test_pull_timeout_and_keep_max_tokens_are_ollama_config_keys(write_config):
    path = write_config('[providers.ollama]\npull_timeout = 60\nkeep_max_tokens = true\n')

    async with gateway_client(path) as client:
        reply = await client.get("/api/providers")

    assert reply.status_code == 200
    default = create_app(write_config("[providers.ollama]\n", name="d.toml")).state.providers["ollama"]
    assert (default.config.pull_timeout, default.config.keep_max_tokens) == (1800.0, False)
