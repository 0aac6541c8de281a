"""A fake OpenAI-compatible server, as a bare ASGI app.

It answers ``/v1/chat/completions`` (plain and streamed, one chunk per piece
with a real delay between them) and ``/v1/models``, records every request,
and reports through thread-safe events what it has sent and whether its
client hung up, so tests can check ordering without guessing at timings.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import msgspec

from . import read_body

# How long a held stream waits for the test to release it, so a broken test
# fails instead of hanging.
HOLD_LIMIT = 5.0


class Recorded(msgspec.Struct):
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeOpenAI:
    def __init__(self, pieces: tuple[str, ...] = ("Hel", "lo", " world"), *,
                 delay: float = 0.01, models: tuple[str, ...] = ("fake-small", "fake-large"),
                 usage: dict[str, int] | None = None) -> None:
        self.pieces = pieces
        self.delay = delay
        self.models = models
        self.usage = usage or {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
        self.requests: list[Recorded] = []
        # (status, body, headers) to answer chat requests with instead of a reply.
        self.failure: tuple[int, Any, dict[str, str]] | None = None
        # Stream this many pieces, then a line that is not JSON.
        self.break_after: int | None = None
        # Seconds to wait before answering a chat.
        self.stall = 0.0
        # When set, a stream sends its first chunk and then waits for release.
        self.hold = False
        self.release = threading.Event()
        self.sent_last = threading.Event()
        self.disconnected = threading.Event()

    @property
    def chats(self) -> list[Recorded]:
        """The chat requests received (health checks list models too)."""
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    def fail(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self.failure = (status, {"error": {"message": message, "type": "api_error",
                                           "param": None, "code": None}}, headers or {})

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        body = await read_body(receive)
        request = Recorded(
            method=scope["method"], path=scope["path"],
            headers={k.decode(): v.decode() for k, v in scope["headers"]},
            body=msgspec.json.decode(body) if body else None,
        )
        self.requests.append(request)
        if request.path == "/v1/models" and request.method == "GET":
            await _json(send, 200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 1700000000, "owned_by": "fake"}
                for m in self.models]})
        elif request.path == "/v1/chat/completions" and request.method == "POST":
            await asyncio.sleep(self.stall)
            if self.failure:
                status, error, headers = self.failure
                await _json(send, status, error, headers)
            elif request.body.get("stream"):
                await self._stream(request.body, receive, send)
            else:
                await _json(send, 200, self._completion(request.body))
        else:
            await _json(send, 404, {"error": {"message": "no such route"}})

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 1700000000,
            "model": body["model"], "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "".join(self.pieces)}}],
            "usage": self.usage,
        }

    def _chunks(self, body: dict[str, Any]) -> list[bytes]:
        def chunk(choices: list[Any], **more: Any) -> bytes:
            return b"data: " + msgspec.json.encode({
                "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000,
                "model": body["model"], "choices": choices, **more}) + b"\n\n"

        chunks = [chunk([{"index": 0, "finish_reason": None,
                          "delta": {"role": "assistant", "content": piece} if i == 0
                          else {"content": piece}}])
                  for i, piece in enumerate(self.pieces)]
        if self.break_after is not None:
            return [*chunks[:self.break_after], b"data: {not json\n\n"]
        chunks.append(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append(chunk([], usage=self.usage))
        return [*chunks, b"data: [DONE]\n\n"]

    async def _stream(self, body: dict[str, Any], receive: Any, send: Any) -> None:
        finished = False

        async def watch_for_hang_up() -> None:
            # The request body is read, so the next message is the hang-up
            # (or, once the reply is complete, the server's end of the cycle).
            while (await receive())["type"] != "http.disconnect":
                pass
            if not finished:
                self.disconnected.set()

        watcher = asyncio.ensure_future(watch_for_hang_up())
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream")]})
            chunks = self._chunks(body)
            for i, data in enumerate(chunks):
                if i == 1 and self.hold:
                    await self._held()
                elif i:
                    await asyncio.sleep(self.delay)
                if self.disconnected.is_set():
                    return
                await send({"type": "http.response.body", "body": data, "more_body": True})
            finished = True
            self.sent_last.set()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()

    async def _held(self) -> None:
        deadline = time.monotonic() + HOLD_LIMIT
        while not self.release.is_set() and not self.disconnected.is_set():
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.005)


async def _json(send: Any, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    raw = [(b"content-type", b"application/json"),
           *((k.encode(), v.encode()) for k, v in (headers or {}).items())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": msgspec.json.encode(body)})


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
