"""CORS: off unless [cors] allow_origins names the browser origins to allow."""

import pytest

from tests.conftest import BASE_CONFIG, OPENAI_URL, gateway_client
from tests.security.conftest import AUTH_CONFIG, USER_KEY, bearer
from tests.test_chat import completion

APP = "https://app.example"
PREFLIGHT = {"Origin": APP, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type"}
CORS_CONFIG = f'[cors]\nallow_origins = ["{APP}"]\n'


async def test_cors_is_off_by_default(client):
    simple = await client.get("/api/providers", headers={"Origin": APP})
    preflight = await client.options("/api/chat", headers=PREFLIGHT)

    assert "access-control-allow-origin" not in simple.headers
    assert "access-control-allow-origin" not in preflight.headers


async def test_an_allowed_origin_gets_cors_headers(write_config):
    async with gateway_client(write_config(BASE_CONFIG + CORS_CONFIG)) as client:
        reply = await client.get("/api/providers", headers={"Origin": APP})

    assert reply.headers["access-control-allow-origin"] == APP


@pytest.mark.parametrize("path, body", [
    ("/api/chat", {"message": "Hi", "provider": "openai"}),
    ("/v1/chat/completions", {"model": "openai/gpt-4o-mini",
                              "messages": [{"role": "user", "content": "Hi"}]}),
])
async def test_a_chat_from_an_allowed_origin_gets_cors_headers(write_config, upstream, path, body):
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion())
    async with gateway_client(write_config(BASE_CONFIG + CORS_CONFIG)) as client:
        allowed = await client.post(path, json=body, headers={"Origin": APP})
        other = await client.post(path, json=body, headers={"Origin": "https://evil.example"})

    assert allowed.status_code == other.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == APP
    assert "access-control-allow-origin" not in other.headers


async def test_a_preflight_needs_no_key_but_the_request_does(write_config, gateway_keys):
    async with gateway_client(write_config(BASE_CONFIG + CORS_CONFIG + AUTH_CONFIG)) as client:
        preflight = await client.options("/api/providers", headers=PREFLIGHT)
        without_key = await client.get("/api/providers", headers={"Origin": APP})
        with_key = await client.get("/api/providers", headers={"Origin": APP, **bearer(USER_KEY)})

    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == APP
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert (without_key.status_code, with_key.status_code) == (401, 200)


async def test_an_origin_not_listed_gets_no_cors_headers(write_config):
    async with gateway_client(write_config(BASE_CONFIG + CORS_CONFIG)) as client:
        simple = await client.get("/api/providers", headers={"Origin": "https://evil.example"})
        preflight = await client.options("/api/providers", headers={
            **PREFLIGHT, "Origin": "https://evil.example"})

    assert "access-control-allow-origin" not in simple.headers
    assert "access-control-allow-origin" not in preflight.headers
