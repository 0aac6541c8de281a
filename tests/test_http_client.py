"""The providers' HTTP client. The transport's error mapping is checked
against real sockets, since respx replaces the transport."""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import time
import weakref

import msgspec

from gateway import ChatRequest, Message
from plugins.openai.provider import OpenAIConfig, OpenAIProvider
from tests.conftest import OPENAI_URL, gateway_client
from tests.servers import free_port, raw_upstream, serve_in_thread


def config(base_url: str, timeout: float = 5.0) -> str:
    return f"""
[providers.openai]
base_url = "{base_url}"
api_key = "sk-test"
timeout = {timeout}
"""


def sse_head() -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")


def sse_chunk(text: str) -> bytes:
    event = b"data: " + msgspec.json.encode(
        {"choices": [{"index": 0, "delta": {"content": text}}]}) + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(event), event)


async def test_an_upstream_slower_than_the_timeout_is_504(write_config):
    with raw_upstream(lambda conn: time.sleep(2)) as url:
        async with gateway_client(write_config(config(url, timeout=0.3))) as client:
            reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai"})

    assert reply.status_code == 504
    assert reply.json()["error"] == "upstream_timeout"


async def test_an_upstream_going_silent_mid_stream_ends_with_a_504_error_event(write_config):
    def reply(conn: socket.socket) -> None:
        conn.sendall(sse_head() + sse_chunk("Hel"))
        time.sleep(2)

    with raw_upstream(reply) as url:
        async with gateway_client(write_config(config(url, timeout=0.3))) as client:
            reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai",
                                                         "stream": True})

    events = reply.text.strip().split("\n\n")
    assert events[0] == 'data: {"content":"Hel"}'
    assert events[1].startswith("event: error\ndata: ")
    assert msgspec.json.decode(events[1].split("data: ", 1)[1])["status_code"] == 504


async def test_a_refused_connection_is_503(write_config):
    async with gateway_client(write_config(config(f"http://127.0.0.1:{free_port()}/v1"))) as client:
        reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai"})

    assert reply.status_code == 503
    assert reply.json()["error"] == "upstream_unreachable"


async def test_an_upstream_hanging_up_mid_reply_is_502(write_config):
    def reply(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 500\r\n\r\n{\"id\":")

    with raw_upstream(reply) as url:
        async with gateway_client(write_config(config(url))) as client:
            reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai"})

    assert reply.status_code == 502
    assert reply.json()["error"] == "upstream_error"


async def test_closing_a_stream_early_closes_the_upstream_connection():
    closed = threading.Event()

    def reply(conn: socket.socket) -> None:
        conn.sendall(sse_head() + sse_chunk("Hel"))
        conn.settimeout(5)
        if conn.recv(1) == b"":  # end of file: the gateway closed its side
            closed.set()

    with raw_upstream(reply) as url:
        provider = OpenAIProvider("openai", OpenAIConfig(base_url=url))
        await provider.start()
        try:
            chunks = provider.chat_stream(ChatRequest(
                model="m", messages=[Message(role="user", content="Hi")], stream=True))
            first = await anext(chunks)
            await chunks.aclose()
            # Waited for off the loop: the socket is closed by a loop callback.
            assert await asyncio.to_thread(closed.wait, 5)
        finally:
            await provider.close()

    assert first.text == "Hel"


async def test_a_cookie_an_upstream_sets_is_not_sent_with_later_requests(write_config):
    cookies: list[bytes | None] = []

    async def upstream(scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["path"].endswith("/chat/completions"):
            cookies.append(dict(scope["headers"]).get(b"cookie"))
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"), (b"set-cookie", b"session=alice; Path=/")]})
        await send({"type": "http.response.body", "body": msgspec.json.encode(
            {"choices": [{"message": {"role": "assistant", "content": "Hi"}}]})})

    with serve_in_thread(upstream) as url:
        # A name, not an address: cookie jars keep no cookies an IP address sets.
        url = url.replace("127.0.0.1", "localhost")
        async with gateway_client(write_config(config(f"{url}/v1"))) as client:
            for _ in range(2):
                reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai"})

    assert reply.status_code == 200
    assert cookies == [None, None]


async def test_a_connection_is_free_again_once_its_reply_is_read_or_its_stream_closed():
    def reply(conn: socket.socket) -> None:
        conn.sendall(sse_head() + sse_chunk("Hel"))
        time.sleep(0.5)  # the stream stays open until the client closes it

    request = ChatRequest(model="m", messages=[Message(role="user", content="Hi")], stream=True)
    with raw_upstream(reply) as url:
        provider = OpenAIProvider("openai", OpenAIConfig(
            base_url=url, max_connections=1, pool_timeout=0.2))
        await provider.start()
        try:
            texts = []
            for _ in range(3):
                chunks = provider.chat_stream(request)
                texts.append((await anext(chunks)).text)
                await chunks.aclose()
        finally:
            await provider.close()

    # With the one slot kept by an earlier stream, the next would get a 503.
    assert texts == ["Hel", "Hel", "Hel"]


async def test_credentials_in_base_url_reach_the_upstream_as_basic_auth():
    seen = []

    async def upstream(scope, receive, send):
        if scope["type"] != "http":
            return  # no lifespan support
        seen.append(dict(scope["headers"]).get(b"authorization"))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"data":[]}'})

    with serve_in_thread(upstream) as url:
        provider = OpenAIProvider("vllm", OpenAIConfig(
            base_url=url.replace("http://", "http://gw:pw@") + "/v1"))
        await provider.start()
        try:
            models = await provider.list_models()
        finally:
            await provider.close()

    assert models == []
    assert seen == [b"Basic Z3c6cHc="]  # base64 of "gw:pw"


async def test_a_reply_read_or_closed_is_freed_without_waiting_for_the_garbage_collector():
    # A reference cycle in every reply kept the garbage collector busy.
    async def upstream(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"data":[]}'})

    with serve_in_thread(upstream) as url:
        provider = OpenAIProvider("vllm", OpenAIConfig(base_url=url + "/v1"))
        await provider.start()
        gc.disable()
        try:
            read = await provider.client.get(provider.url("/models"))
            async with provider.client.stream("GET", provider.url("/models")) as streamed:
                await streamed.aread()
            replies = [weakref.ref(read), weakref.ref(streamed)]
            del read, streamed
            alive = [reply() is not None for reply in replies]
        finally:
            gc.enable()
            await provider.close()

    assert alive == [False, False]
