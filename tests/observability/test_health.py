"""Provider health refreshed in the background at the configured interval."""

import asyncio

import httpx
import msgspec

from tests.conftest import OPENAI_URL, gateway_client

MODELS = httpx.Response(200, json={"data": []})


def config(interval):
    return (f"[server]\nhealth_check_interval = {interval}\n"
            f'[providers.openai]\nbase_url = "{OPENAI_URL}"\napi_key = "test-key"\n')


async def status_of(client):
    [provider] = (await client.get("/api/providers")).json()["providers"]
    return provider


async def until(condition, timeout=3.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def until_status(client, status):
    for _ in range(300):
        provider = await status_of(client)
        if provider["status"] == status:
            return provider
        await asyncio.sleep(0.01)
    raise AssertionError(f"status never became {status}: {provider}")


async def test_status_follows_the_upstream_without_a_manual_check(write_config, upstream):
    upstream.get(f"{OPENAI_URL}/models").mock(side_effect=[
        httpx.Response(401, json={"error": {"message": "bad key"}}), *[MODELS] * 50])

    async with gateway_client(write_config(config(0.05))) as client:
        failing = await until_status(client, "error")
        recovered = await until_status(client, "connected")

    assert failing["error"] == "OpenAI refused the gateway's credentials (HTTP 401): bad key"
    assert recovered["error"] == ""
    assert recovered["last_checked"] >= failing["last_checked"] != ""


async def test_interval_zero_checks_once_at_start_up(write_config, upstream):
    route = upstream.get(f"{OPENAI_URL}/models").mock(return_value=MODELS)

    async with gateway_client(write_config(config(0))) as client:
        await until(lambda: route.called)
        await asyncio.sleep(0.2)
        provider = await status_of(client)

    assert route.call_count == 1
    assert provider["status"] == "connected"


async def test_checks_stop_when_the_app_stops(write_config, upstream):
    route = upstream.get(f"{OPENAI_URL}/models").mock(return_value=MODELS)

    async with gateway_client(write_config(config(0.02))):
        await until(lambda: route.call_count >= 2)
    stopped_at = route.call_count
    await asyncio.sleep(0.1)

    assert route.call_count == stopped_at


async def test_a_failing_check_is_logged_and_checking_goes_on(write_config, upstream, capsys):
    upstream.get(f"{OPENAI_URL}/models").mock(
        side_effect=[RuntimeError("provider bug"), *[MODELS] * 50])

    async with gateway_client(write_config(config(0.02))) as client:
        provider = await until_status(client, "connected")

    lines = [msgspec.json.decode(x) for x in capsys.readouterr().err.splitlines()]
    [failure] = [x for x in lines if x["logger"] == "gateway.health"]
    assert failure["message"] == "health check of provider openai failed"
    assert "RuntimeError: provider bug" in failure["exception"]
    assert provider["status"] == "connected"
