"""Clients that send their request body slowly get a 408 once
``[server] body_timeout`` has passed, on real sockets to a real server."""

from __future__ import annotations

import socket
import time

import httpx
import msgspec
import pytest

from gateway.app import create_app
from tests.security.fakes import FakeUpstream, provider_config
from tests.servers import serve_in_thread

TIMEOUT = 0.3
CHAT = b'{"message": "Hi", "provider": "openai"}'


# A route that takes its time before it reads its body, or never reads it.
SLOW_ROUTES = f"""
import asyncio
from litestar import Request, post
from gateway import hookimpl

@post("/api/extra/busy", status_code=200)
async def busy() -> dict[str, bool]:
    await asyncio.sleep({2 * TIMEOUT})
    return {{"done": True}}

@post("/api/extra/busy-then-read", status_code=200)
async def busy_then_read(request: Request) -> dict[str, int]:
    await asyncio.sleep({2 * TIMEOUT})
    return {{"bytes": len(await request.body())}}

@hookimpl
def gateway_routes():
    return [busy, busy_then_read]
"""


@pytest.fixture
def app_path(write_config, plugin_config):
    """Serve an OpenAI-compatible fake upstream that answers after 0.6 s;
    yield the path of a config with a short body timeout, the drop-in
    routes plugins and that fake as the openai provider, and the fake."""
    fake = FakeUpstream("reply", delay=2 * TIMEOUT)
    with serve_in_thread(fake) as upstream_url:
        path = plugin_config(server=f"body_timeout = {TIMEOUT}")
        (path.parent / "plugins" / "slow_routes.py").write_text(SLOW_ROUTES)
        # The plugin config's own [providers.openai] is replaced by the fake's.
        text = path.read_text().split("[providers.openai]")[0] + provider_config(upstream_url)
        path.write_text(text)
        yield path, fake


@pytest.fixture
def gateway(app_path):
    path, fake = app_path
    with serve_in_thread(create_app(path)) as url:
        yield url, fake


def _trickle(url: str, path: str, sent: bytes, length: int) -> tuple[bytes, float, bytes]:
    """Send the headers of a ``length``-byte body and then only ``sent`` of
    it; return the reply, the seconds it took, and what came after it."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {length}\r\n\r\n".encode() + sent)
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += sock.recv(65536)
        head, _, body = reply.partition(b"\r\n\r\n")
        size = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(body) < size:
            body += sock.recv(65536)
        took = time.monotonic() - started
        after = sock.recv(65536)  # b"" once the server has closed the connection
    return reply.partition(b"\r\n\r\n")[0] + b"\r\n\r\n" + body, took, after


@pytest.mark.parametrize("path", ["/api/chat", "/api/extra/upload"])
def test_a_body_that_does_not_arrive_in_time_is_408_and_the_connection_closed(gateway, path):
    url, fake = gateway

    reply, took, after = _trickle(url, path, CHAT[:10], len(CHAT))

    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert msgspec.json.decode(body) == {
        "status_code": 408, "error": "request_timeout",
        "detail": f"The request body did not arrive within {TIMEOUT:g} s"}
    assert TIMEOUT <= took < TIMEOUT + 2
    assert after == b""
    assert fake.chats == 0
    # The wait was the client's, not the gateway's.
    overhead = head.lower().split(b"x-gateway-overhead-ms: ")[1].split(b"\r\n")[0]
    assert float(overhead) < TIMEOUT * 1000 / 2


def test_under_v1_the_408_is_in_openai_error_shape(gateway):
    url, _ = gateway
    body = b'{"model": "openai/m", "messages": [{"role": "user", "content": "Hi"}]}'

    reply, _, _ = _trickle(url, "/v1/chat/completions", body[:20], len(body))

    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    error = msgspec.json.decode(body)["error"]
    assert error["code"] == "request_timeout"
    assert error["message"] == f"The request body did not arrive within {TIMEOUT:g} s"


def test_the_timeout_covers_the_body_only_not_a_slow_upstream(gateway):
    url, fake = gateway

    # The fake takes twice the body timeout to answer.
    reply = httpx.post(f"{url}/api/chat", content=CHAT, timeout=10)

    assert reply.status_code == 200
    assert fake.chats == 1


@pytest.mark.parametrize(("path", "reply"), [("/api/extra/busy", {"done": True}),
                                             ("/api/extra/busy-then-read", {"bytes": len(CHAT)})])
def test_a_route_busy_before_it_reads_the_body_is_not_cut_off(gateway, path, reply):
    url, _ = gateway

    served = httpx.post(f"{url}{path}", content=CHAT, timeout=10)

    assert served.status_code == 200
    assert served.json() == reply


def test_the_timeout_holds_when_the_app_is_served_again_on_a_new_event_loop(app_path):
    app = create_app(app_path[0])
    with serve_in_thread(app) as url:
        # Its body in at once, but the shared timer is set; the loop ends before it is due.
        assert httpx.post(f"{url}/api/extra/upload", content=CHAT).status_code == 200
    with serve_in_thread(app) as url:
        reply, _, _ = _trickle(url, "/api/chat", CHAT[:10], len(CHAT))

    assert reply.startswith(b"HTTP/1.1 408 ")


def test_a_body_sent_in_pieces_within_the_timeout_is_served(gateway):
    url, _ = gateway

    def pieces():
        for start in range(0, len(CHAT), 10):
            time.sleep(TIMEOUT / 8)
            yield CHAT[start:start + 10]

    reply = httpx.post(f"{url}/api/extra/upload", content=pieces(), timeout=10)

    assert reply.status_code == 200
    assert reply.json() == {"bytes": len(CHAT)}


def test_a_slow_client_is_counted_as_408(gateway):
    url, _ = gateway
    series = 'gateway_requests_total{model="",provider="",route="/api/chat",status="408"} '

    def count() -> float:
        for line in httpx.get(f"{url}/metrics").text.splitlines():
            if line.startswith(series):
                return float(line.removeprefix(series))
        return 0.0

    before = count()
    _trickle(url, "/api/chat", CHAT[:10], len(CHAT))

    assert count() == before + 1
