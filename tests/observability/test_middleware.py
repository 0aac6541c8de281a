"""X-Request-ID: taken from the client or made up, returned, and sent upstream."""

import asyncio
import re

import pytest

from tests.conftest import OPENAI_URL, SECRET_KEY, gateway_client
from tests.test_chat import chunk, completion, sse

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
async def client(write_config, upstream):
    upstream.get(f"{OPENAI_URL}/models").respond(json={"data": []})
    path = write_config(
        f'[providers.openai]\nbase_url = "{OPENAI_URL}"\napi_key = "{SECRET_KEY}"\n')
    async with gateway_client(path) as client:
        yield client


async def test_a_generated_request_id_is_returned_and_sent_upstream(client, upstream):
    route = upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion())

    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai"})

    request_id = reply.headers["x-request-id"]
    assert GENERATED.fullmatch(request_id)
    assert route.calls.last.request.headers["x-request-id"] == request_id


async def test_each_request_gets_its_own_id(client):
    first = await client.get("/health")
    second = await client.get("/health")

    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_the_clients_request_id_is_kept_for_a_stream(client, upstream):
    route = upstream.post(f"{OPENAI_URL}/chat/completions").respond(
        content=sse(chunk("Hi"), "[DONE]"), headers={"content-type": "text/event-stream"})

    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai",
                                                 "stream": True},
                              headers={"X-Request-ID": "trace-42:a.b_c"})

    assert reply.headers["x-request-id"] == "trace-42:a.b_c"
    assert route.calls.last.request.headers["x-request-id"] == "trace-42:a.b_c"


async def test_a_health_check_through_the_api_sends_the_request_id(client, upstream):
    await client.post("/api/providers/openai/check", headers={"X-Request-ID": "check-1"})

    assert upstream.calls.last.request.url == f"{OPENAI_URL}/models"
    assert upstream.calls.last.request.headers["x-request-id"] == "check-1"


@pytest.mark.parametrize("unsafe", ["x" * 129, "two words", "semi;colon", 'quote"d',
                                    "ünï".encode()])
async def test_an_unsafe_client_request_id_is_replaced(client, unsafe):
    reply = await client.get("/health", headers={"X-Request-ID": unsafe})

    assert GENERATED.fullmatch(reply.headers["x-request-id"])


async def test_errors_and_unknown_paths_carry_a_request_id_too(client):
    missing = await client.get("/no/such/path", headers={"X-Request-ID": "lost-1"})
    bad = await client.post("/api/chat", json={"provider": "openai"})

    assert (missing.status_code, missing.headers["x-request-id"]) == (404, "lost-1")
    assert bad.status_code == 400
    assert GENERATED.fullmatch(bad.headers["x-request-id"])


async def test_background_health_checks_send_no_request_id(write_config, upstream):
    route = upstream.get(f"{OPENAI_URL}/models").respond(json={"data": []})
    path = write_config(f'[providers.openai]\nbase_url = "{OPENAI_URL}"\n')
    async with gateway_client(path):
        while not route.called:
            await asyncio.sleep(0.01)

    assert route.call_count == 1
    assert "x-request-id" not in route.calls.last.request.headers
