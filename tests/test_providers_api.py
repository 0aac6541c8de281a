"""GET /api/providers and POST /api/providers/{id}/check."""

from tests.conftest import OPENAI_URL, SECRET_KEY, gateway_client


async def test_provider_list_never_contains_the_key(write_config, monkeypatch, upstream):
    monkeypatch.setenv("GROQ_KEY", "gsk-env-secret-987654321")
    path = write_config(f'''
        [providers.openai]
        base_url = "{OPENAI_URL}"
        api_key = "{SECRET_KEY}"
        [providers.groq]
        type = "openai"
        base_url = "http://groq.test/v1"
        api_key_env = "GROQ_KEY"
    ''')
    async with gateway_client(path) as client:
        reply = await client.get("/api/providers")

    assert SECRET_KEY not in reply.text
    assert "gsk-env-secret" not in reply.text
    assert [p["has_api_key"] for p in reply.json()["providers"]] == [True, True]


async def test_check_records_connected_and_last_checked(client, upstream):
    upstream.get(f"{OPENAI_URL}/models").respond(json={"data": [{"id": "gpt-4o-mini"}]})

    reply = await client.post("/api/providers/openai/check")

    assert reply.status_code == 200
    assert reply.json()["status"] == "connected"
    assert reply.json()["last_checked"].endswith("+00:00")


async def test_check_of_an_unreachable_provider_is_disconnected(client, upstream):
    import httpx

    upstream.get(f"{OPENAI_URL}/models").mock(side_effect=httpx.ConnectError("refused"))

    reply = await client.post("/api/providers/openai/check")

    assert reply.json()["status"] == "disconnected"
    assert "not reachable" in reply.json()["error"]


async def test_check_of_a_provider_rejecting_the_key_is_error(client, upstream):
    upstream.get(f"{OPENAI_URL}/models").respond(401, json={"error": {"message": "bad key"}})

    reply = await client.post("/api/providers/openai/check")

    assert reply.json()["status"] == "error"
    assert SECRET_KEY not in reply.text


async def test_check_of_an_unknown_provider_is_400(client):
    reply = await client.post("/api/providers/nope/check")

    assert reply.status_code == 400
    assert "nope" in reply.json()["detail"]


async def test_health(client):
    reply = await client.get("/health")

    assert (reply.status_code, reply.json()) == (200, {"status": "ok"})


async def test_openapi_docs_are_served(client):
    reply = await client.get("/docs/openapi.json")

    assert reply.status_code == 200
    assert "/api/chat" in reply.json()["paths"]
