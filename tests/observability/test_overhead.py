"""X-Gateway-Overhead-Ms: the gateway's own time, upstream waits left out."""

import socket
import time

import httpx
import msgspec

from gateway.app import create_app
from tests.conftest import gateway_client
from tests.servers import raw_upstream, serve_in_thread

UPSTREAM_DELAY = 0.3
# Well under the 300 ms waits the header must leave out, and over the stalls
# (a garbage collection, a busy machine) of a full run on two processes:
# one stream's overhead once measured 185 ms there.
MAX_OVERHEAD_MS = 200


def slow_reply(body: bytes, content_type: bytes = b"application/json"):
    def reply(conn: socket.socket) -> None:
        time.sleep(UPSTREAM_DELAY)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type
                     + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    return reply


COMPLETION = msgspec.json.encode(
    {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}}]})
STREAM = (b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
          b"data: [DONE]\n\n")


def config(url: str) -> str:
    return f'[providers.openai]\nbase_url = "{url}"\napi_key = "sk-test"\n'


def overhead_ms(reply) -> float:
    return float(reply.headers["x-gateway-overhead-ms"])


async def test_a_chat_reports_its_overhead_without_the_upstream_wait(write_config):
    with raw_upstream(slow_reply(COMPLETION)) as url:
        async with gateway_client(write_config(config(url))) as client:
            start = time.perf_counter()
            reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai"})
            elapsed_ms = (time.perf_counter() - start) * 1000

    assert reply.status_code == 200
    assert elapsed_ms >= UPSTREAM_DELAY * 1000
    assert 0 < overhead_ms(reply) < MAX_OVERHEAD_MS


async def test_a_stream_reports_its_overhead_up_to_the_first_chunk(write_config):
    with raw_upstream(slow_reply(STREAM, b"text/event-stream")) as url:
        async with gateway_client(write_config(config(url))) as client:
            reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai",
                                                         "stream": True})

    assert reply.text.startswith('data: {"content":"Hi"}')
    assert 0 < overhead_ms(reply) < MAX_OVERHEAD_MS


async def test_an_error_reply_reports_its_overhead_too(client):
    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "nope"})

    assert reply.status_code == 400
    assert overhead_ms(reply) > 0


async def test_upstream_waits_made_at_once_count_once(write_config):
    # /v1/models asks every provider at the same time.
    models = msgspec.json.encode({"data": [{"id": "m"}]})
    with raw_upstream(slow_reply(models)) as first, raw_upstream(slow_reply(models)) as second:
        path = write_config(f'[providers.one]\ntype = "openai"\nbase_url = "{first}"\n'
                            f'[providers.two]\ntype = "openai"\nbase_url = "{second}"\n')
        async with gateway_client(path) as client:
            reply = await client.get("/v1/models")

    assert [m["id"] for m in reply.json()["data"]] == ["one/m", "two/m"]
    assert 0 < overhead_ms(reply) < MAX_OVERHEAD_MS


def test_a_client_slow_to_send_its_body_is_not_counted_as_overhead(write_config):
    chat = msgspec.json.encode({"message": "Hi", "provider": "openai"})

    def trickled():
        for start in range(0, len(chat), 8):
            time.sleep(0.08)
            yield chat[start:start + 8]

    with raw_upstream(slow_reply(COMPLETION)) as upstream_url:
        app = create_app(write_config(config(upstream_url)))
        with serve_in_thread(app) as url:
            started = time.perf_counter()
            reply = httpx.post(f"{url}/api/chat", content=trickled(), timeout=10)
            elapsed_ms = (time.perf_counter() - started) * 1000

    assert reply.status_code == 200
    # About 0.5 s of the client's own sending, and the upstream's 0.3 s.
    assert elapsed_ms >= UPSTREAM_DELAY * 1000 + 400
    assert 0 < overhead_ms(reply) < MAX_OVERHEAD_MS
