"""A misbehaving OpenAI-compatible upstream on 127.0.0.1, for the tests that
need real sockets: hung replies, slow streams, hang-ups, shutdown."""

from __future__ import annotations

import asyncio
import threading
import time

import msgspec

from tests.fakes import read_body


class FakeUpstream:
    """An ASGI app whose chat endpoint behaves as ``mode`` says.

    ``"hang"``: reads the request and never answers. ``"slow_stream"``: streams
    one SSE chunk every ``interval`` seconds, for a minute. ``"reply"``:
    answers ``"done"`` after ``delay`` seconds, streamed if the request asks
    for it. ``GET /models`` always answers at once (the gateway's start-up
    health check calls it).

    ``received`` is set when a chat request arrives; ``hung_up`` when the
    gateway drops the connection before the answer is complete, with the
    time in ``hung_up_at``.
    """

    def __init__(self, mode: str, *, interval: float = 0.1, delay: float = 0.0) -> None:
        self.mode = mode
        self.interval = interval
        self.delay = delay
        self.received = threading.Event()
        self.hung_up = threading.Event()
        self.hung_up_at = 0.0
        self.chats = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"].endswith("/models"):
            await _json(send, {"data": [{"id": "m"}]})
            return
        body = await read_body(receive)
        self.chats += 1
        self.received.set()
        stream = msgspec.json.decode(body).get("stream", False)
        work = {"hang": self._hang, "slow_stream": self._slow_stream,
                "reply": self._reply}[self.mode]
        task = asyncio.ensure_future(work(send, stream))
        await receive()  # returns only when the gateway hangs up
        if not task.done():
            self.hung_up_at = time.monotonic()
            self.hung_up.set()
        task.cancel()

    async def _hang(self, send, stream: bool) -> None:
        await asyncio.sleep(3600)

    async def _slow_stream(self, send, stream: bool) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        for n in range(int(60 / self.interval)):
            chunk = {"choices": [{"index": 0, "delta": {"content": f"{n} "}}]}
            await send({"type": "http.response.body", "more_body": True,
                        "body": b"data: " + msgspec.json.encode(chunk) + b"\n\n"})
            await asyncio.sleep(self.interval)

    async def _reply(self, send, stream: bool) -> None:
        await asyncio.sleep(self.delay)
        if not stream:
            await _json(send, {"model": "m", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "done"},
                 "finish_reason": "stop"}]})
            return
        chunk = {"choices": [{"index": 0, "delta": {"content": "done"}, "finish_reason": "stop"}]}
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body",
                    "body": b"data: " + msgspec.json.encode(chunk) + b"\n\ndata: [DONE]\n\n"})


async def _json(send, body) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": msgspec.json.encode(body)})


def provider_config(url: str, **settings) -> str:
    """A ``[providers.openai]`` table pointing at a fake upstream."""
    lines = [f'base_url = "{url}/v1"', 'api_key = "sk-fake"']
    lines += [f"{key} = {value}" for key, value in settings.items()]
    return "[providers.openai]\n" + "\n".join(lines) + "\n"
