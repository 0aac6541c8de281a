"""Upstream timeouts and connection-pool limits, against a real upstream on
127.0.0.1 that accepts requests and never answers."""

import asyncio
import time

import httpx

from tests.conftest import gateway_client
from tests.security.fakes import FakeUpstream

CHAT = {"message": "Hi", "provider": "openai"}


def test_a_hung_upstream_gives_504_once_the_read_timeout_has_passed(served):
    url = served(FakeUpstream("hang"), timeout=0.5)
    started = time.monotonic()

    reply = httpx.post(f"{url}/api/chat", json=CHAT, timeout=10)

    assert 0.5 <= time.monotonic() - started < 2
    assert reply.status_code == 504
    assert reply.json()["error"] == "upstream_timeout"
    assert reply.json()["detail"].endswith("did not answer within 0.5 s (ReadTimeout)")


def test_a_hung_upstream_gives_504_to_a_streaming_request_too(served):
    url = served(FakeUpstream("hang"), timeout=0.5)

    reply = httpx.post(f"{url}/api/chat", json={**CHAT, "stream": True}, timeout=10)

    assert reply.status_code == 504
    assert reply.json()["error"] == "upstream_timeout"


async def test_an_exhausted_connection_pool_gives_a_clear_503(served):
    fake = FakeUpstream("hang")
    url = served(fake, timeout=5, max_connections=1, pool_timeout=0.3)
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        first = asyncio.create_task(client.post("/api/chat", json=CHAT))
        await asyncio.to_thread(fake.received.wait, 5)
        started = time.monotonic()
        second = await client.post("/api/chat", json=CHAT)
        waited = time.monotonic() - started
        first.cancel()

    assert second.status_code == 503
    assert second.json() == {
        "status_code": 503, "error": "upstream_busy",
        "detail": "All 1 connections to OpenAI are in use and none came free within 0.3 s; "
                  "try again later"}
    assert 0.3 <= waited < 1.5
    assert fake.chats == 1


async def test_providers_have_finite_timeouts_by_default(write_config):
    path = write_config('[providers.openai]\n[providers.ollama]\nenabled = true\n')
    async with gateway_client(path) as client:
        providers = client.app.state.providers
        timeouts = {pid: providers[pid].client.timeout for pid in ("openai", "ollama")}

    assert timeouts == {
        "openai": httpx.Timeout(60, connect=5, pool=5),
        "ollama": httpx.Timeout(300, connect=5, pool=5),
    }
