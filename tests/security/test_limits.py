"""Input limits: the request body size (any route) and the validation of
``POST /api/chat`` bodies. Nothing that fails them reaches an upstream."""

import httpx
import pytest

from gateway.app import create_app
from tests.conftest import OPENAI_URL, gateway_client
from tests.servers import serve_in_thread

MIB = 1024 * 1024


@pytest.fixture
def chat_route(upstream):
    return upstream.post(f"{OPENAI_URL}/chat/completions").respond(json={
        "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]})


async def test_a_body_over_the_default_1_mib_is_413_and_never_reaches_the_upstream(
        client, chat_route):
    reply = await client.post("/api/chat", json={"message": "x" * MIB, "provider": "openai"})

    assert reply.status_code == 413
    assert reply.json() == {
        "status_code": 413, "error": "request_too_large",
        "detail": f"The request body is larger than this endpoint's limit of {MIB} bytes"}
    assert not chat_route.called


async def test_a_body_just_under_1_mib_is_accepted(client, chat_route):
    reply = await client.post("/api/chat", json={"message": "x" * (MIB - 100),
                                                 "provider": "openai"})

    assert reply.status_code == 200


async def test_the_limit_is_configurable_and_covers_plugin_routes(plugin_config):
    path = plugin_config(server="max_body_bytes = 100")
    async with gateway_client(path) as client:
        small = await client.post("/api/extra/upload", content=b"x" * 100)
        large = await client.post("/api/extra/upload", content=b"x" * 101)

    assert small.json() == {"bytes": 100}
    assert large.status_code == 413


async def test_413_under_v1_is_in_openai_error_shape(plugin_config):
    async with gateway_client(plugin_config(server="max_body_bytes = 100")) as client:
        reply = await client.post("/v1/extra/upload", content=b"x" * 101)

    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "request_too_large"
    assert reply.json()["error"]["type"] == "invalid_request_error"


def test_a_chunked_body_without_content_length_is_cut_off_at_the_limit(plugin_config):
    sent = []

    def chunks():
        for _ in range(64):
            sent.append(1024)
            yield b"x" * 1024

    with serve_in_thread(create_app(plugin_config(server="max_body_bytes = 4096"))) as url:
        reply = httpx.post(f"{url}/api/extra/upload", content=chunks())

    assert reply.request.headers["transfer-encoding"] == "chunked"
    assert reply.status_code == 413


BAD_BODIES = [
    ({"message": "", "provider": "openai"}, "message: Expected `str` of length >= 1"),
    ({"provider": "openai"}, "message: missing required field"),
    ({"message": 5, "provider": "openai"}, "message: Expected `str`, got `int`"),
    ({"message": "Hi", "provider": "openai", "max_tokens": -1},
     "max_tokens: Expected `int` >= 1"),
    ({"message": "Hi", "provider": "openai", "max_tokens": 2**40},
     "max_tokens: Expected `int` <= 2147483647"),
    ({"message": "Hi", "provider": "openai", "temperature": 2.5},
     "temperature: Expected `float` <= 2.0"),
    ({"message": "Hi", "provider": "openai", "history": [{"role": "user", "content": ""}]},
     "history[0].content: Expected `str` of length >= 1"),
    ({"message": "Hi", "provider": "openai", "history": [{"role": "tool", "content": "x"}]},
     "history[0].role: Invalid enum value 'tool'"),
    ({"message": "Hi", "provider": "openai", "model": "x" * 257},
     "model: Expected `str` of length <= 256"),
    ({"message": "Hi", "provider": "openai", "stream": "yes"}, "stream: Expected `bool`"),
    ({"message": "Hi", "provider": "openai", "extra": 1}, "extra: unknown field"),
]

UNSAFE_NAMES = ["llama\n3", "llama3\n", "gpt\x00", "../../admin", "a/../b", "x\x7f", ""]


@pytest.mark.parametrize(("body", "detail"), BAD_BODIES)
async def test_a_bad_chat_body_is_400_naming_the_field_and_not_sent(client, chat_route, body,
                                                                    detail):
    reply = await client.post("/api/chat", json=body)

    assert reply.status_code == 400
    assert detail in reply.json()["detail"]
    assert not chat_route.called


@pytest.mark.parametrize("field", ["model", "provider"])
async def test_unsafe_model_and_provider_names_are_400_and_not_sent(client, chat_route, field):
    replies = [await client.post("/api/chat", json={"message": "Hi", "provider": "openai",
                                                    field: name}) for name in UNSAFE_NAMES]

    assert [r.status_code for r in replies] == [400] * len(UNSAFE_NAMES)
    assert all(r.json()["detail"].startswith(f"{field}: Expected ") for r in replies)
    # In words, not as the regular expression that checks them.
    assert not any("regex" in r.json()["detail"] for r in replies)
    assert not chat_route.called


async def test_malformed_json_is_400_and_not_sent(client, chat_route):
    reply = await client.post("/api/chat", content=b'{"message": "Hi",',
                              headers={"content-type": "application/json"})

    assert reply.status_code == 400
    assert reply.json()["error"] == "bad_request"
    assert not chat_route.called


async def test_model_names_with_slashes_colons_and_single_dots_pass(client, chat_route):
    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai",
                                                 "model": "library/llama3.2:3b-q4.K_M"})

    assert reply.status_code == 200
