"""A client that hangs up stops the work done for it (gateway/cancellation.py),
shown with real servers: the gateway and a fake upstream on 127.0.0.1."""

import socket
import sys
import textwrap
import time

import httpx
import pytest

from gateway.app import create_app
from tests.observability.conftest import changes, parse_metrics
from tests.security.fakes import FakeUpstream
from tests.servers import serve_in_thread

CHAT = {"message": "Hi", "provider": "openai"}

SLOW_ROUTE_PLUGIN = """
import asyncio
import threading
from litestar import get
from gateway import hookimpl

STARTED = threading.Event()
CANCELLED = threading.Event()

@get("/api/slow")
async def slow() -> dict[str, bool]:
    STARTED.set()
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        CANCELLED.set()
        raise
    return {"done": True}

@hookimpl
def gateway_routes():
    return [slow]
"""


def test_hanging_up_mid_stream_closes_the_upstream_connection_at_once(served):
    fake = FakeUpstream("slow_stream", interval=0.05)
    url = served(fake)

    with httpx.stream("POST", f"{url}/api/chat", json={**CHAT, "stream": True}) as reply:
        first = next(reply.iter_lines())
        hung_up = time.monotonic()

    assert first.startswith("data: ")
    assert fake.hung_up.wait(5)
    assert fake.hung_up_at - hung_up < 0.5


def test_hanging_up_while_waiting_for_a_reply_closes_the_upstream_connection_at_once(served):
    fake = FakeUpstream("hang")
    url = served(fake)  # the provider's read timeout is 60 s

    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{url}/api/chat", json=CHAT, timeout=httpx.Timeout(5, read=0.5))
    hung_up = time.monotonic()

    assert fake.received.is_set()
    assert fake.hung_up.wait(5)
    assert fake.hung_up_at - hung_up < 0.5


def test_hanging_up_before_the_hang_up_listener_starts_is_still_heard(served):
    # The gateway listens for a hang-up only from LISTEN_AFTER (0.1 s) after
    # the body arrived; a client gone before then is heard at that point.
    fake = FakeUpstream("hang")
    url = served(fake)

    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{url}/api/chat", json=CHAT, timeout=httpx.Timeout(5, read=0.02))
    hung_up = time.monotonic()

    assert fake.hung_up.wait(5)
    assert fake.hung_up_at - hung_up < 0.5


def test_a_request_whose_client_hung_up_is_counted_as_499_not_as_a_server_error(served):
    fake = FakeUpstream("hang")
    url = served(fake)
    before = parse_metrics(httpx.get(f"{url}/metrics").text)

    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{url}/api/chat", json=CHAT, timeout=httpx.Timeout(5, read=0.5))
    deadline = time.monotonic() + 5
    while not (grown := grown_requests(before, httpx.get(f"{url}/metrics").text)):
        assert time.monotonic() < deadline
        time.sleep(0.05)

    assert grown == {"499": 1}


@pytest.mark.parametrize("path", ["/api/chat", "/v1/chat/completions"])
def test_a_client_that_hangs_up_while_sending_its_body_is_counted_as_499(served, path):
    url = served(FakeUpstream("hang"))
    before = parse_metrics(httpx.get(f"{url}/metrics").text)
    host, port = url.removeprefix("http://").split(":")

    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: 100\r\n\r\n{\"message\":".encode())
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while not (grown := grown_requests(before, httpx.get(f"{url}/metrics").text, path)):
        assert time.monotonic() < deadline
        time.sleep(0.05)

    assert grown == {"499": 1}


def grown_requests(before, text, route="/api/chat"):
    """The requests to ``route`` counted since ``before``, by status."""
    return {dict(labels)["status"]: count
            for (name, labels), count in changes(before, parse_metrics(text)).items()
            if name == "gateway_requests_total" and dict(labels)["route"] == route}


def test_hanging_up_cancels_a_plugin_route_too(write_config, tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "slow_route.py").write_text(textwrap.dedent(SLOW_ROUTE_PLUGIN))
    app = create_app(write_config('[server]\nplugin_dirs = ["plugins"]\n'))
    plugin = sys.modules["gateway_plugin_dir.slow_route"]

    with serve_in_thread(app) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{url}/api/slow", timeout=httpx.Timeout(5, read=0.3))
        cancelled = plugin.CANCELLED.wait(2)

    assert plugin.STARTED.is_set()
    assert cancelled


def test_a_reply_that_completed_is_not_cut_short(served):
    fake = FakeUpstream("reply", delay=0.2)
    url = served(fake)

    reply = httpx.post(f"{url}/api/chat", json=CHAT)

    assert reply.json()["response"] == "done"
    assert not fake.hung_up.is_set()


@pytest.mark.parametrize("headers", [{}, {"content-length": "0"}])
def test_a_request_without_a_body_still_reads_as_empty(served, headers):
    # The listener waiting for a hang-up takes the server's (empty) body
    # message of such a request first; the route must still get it.
    url = served(FakeUpstream("reply"))

    reply = httpx.post(f"{url}/api/chat", headers=headers, timeout=5)

    assert reply.status_code == 400
    assert reply.json()["detail"] == "The body is empty; send a JSON object"
