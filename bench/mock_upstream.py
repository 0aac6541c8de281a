"""A mock model server fast enough that it is never what a benchmark measures.

It speaks OpenAI's chat-completions API (``POST /v1/chat/completions``,
``GET /v1/models``) and Ollama's native one (``POST /api/chat``,
``GET /api/tags``), plain and streamed, with an optional delay before the
reply and between chunks. Replies are built once at start-up and the HTTP is
a bare asyncio protocol on uvloop and httptools: a framework would cost more
than the gateway it is measured against.

    python -m bench.mock_upstream --port 9000 [--delay-ms 0] [--chunk-delay-ms 0] [--chunks 5]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httptools
import msgspec
import uvloop

MODEL = "bench-model"
WORDS = ["Hello", " from", " the", " mock", " upstream", " model", " server", "."]


class _Stream(msgspec.Struct):
    stream: bool | None = None


_decode_stream_flag = msgspec.json.Decoder(_Stream).decode
_encode = msgspec.json.Encoder().encode


def _words(n: int) -> list[str]:
    return [WORDS[i % len(WORDS)] for i in range(n)]


def _usage(n: int) -> dict:
    return {"prompt_tokens": 10, "completion_tokens": n, "total_tokens": 10 + n}


def _openai_reply(n: int) -> bytes:
    return _encode({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": int(time.time()),
        "model": MODEL, "usage": _usage(n),
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "".join(_words(n))}}],
    })


def _openai_chunks(n: int) -> list[bytes]:
    def chunk(delta: dict, finish: str | None = None, usage: dict | None = None) -> bytes:
        body = {"id": "chatcmpl-bench", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": MODEL,
                "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if usage:
            body["usage"] = usage
        return b"data: " + _encode(body) + b"\n\n"

    chunks = [chunk({"role": "assistant", "content": w}) for w in _words(n)]
    chunks.append(chunk({}, finish="stop"))
    chunks.append(chunk({}, usage=_usage(n)))
    chunks.append(b"data: [DONE]\n\n")
    return chunks


def _ollama_message(content: str, done: bool, n: int) -> dict:
    body = {"model": MODEL, "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": content}, "done": done}
    if done:
        body.update(done_reason="stop", prompt_eval_count=10, eval_count=n,
                    total_duration=1000, eval_duration=500)
    return body


def _ollama_reply(n: int) -> bytes:
    return _encode(_ollama_message("".join(_words(n)), True, n))


def _ollama_chunks(n: int) -> list[bytes]:
    lines = [_encode(_ollama_message(w, False, n)) + b"\n" for w in _words(n)]
    lines.append(_encode(_ollama_message("", True, n)) + b"\n")
    return lines


def _head(status: str, content_type: bytes, length: int | None) -> bytes:
    framing = b"Transfer-Encoding: chunked" if length is None else b"Content-Length: %d" % length
    return (b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: " + content_type
            + b"\r\n" + framing + b"\r\n\r\n")


def _plain(body: bytes, status: str = "200 OK") -> bytes:
    return _head(status, b"application/json", len(body)) + body


def _chunked(piece: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(piece), piece)


class Replies:
    """Every reply the mock can send, as ready-made bytes."""

    def __init__(self, chunks: int) -> None:
        self.openai = _plain(_openai_reply(chunks))
        self.openai_stream = [_chunked(c) for c in _openai_chunks(chunks)]
        self.ollama = _plain(_ollama_reply(chunks))
        self.ollama_stream = [_chunked(c) for c in _ollama_chunks(chunks)]
        self.models = _plain(_encode({"object": "list", "data": [
            {"id": MODEL, "object": "model", "created": 0, "owned_by": "bench"}]}))
        self.tags = _plain(_encode({"models": [{"name": MODEL, "model": MODEL, "size": 1}]}))
        self.not_found = _plain(b'{"error":{"message":"no such route"}}', "404 Not Found")
        self.sse_head = _head("200 OK", b"text/event-stream", None)
        self.ndjson_head = _head("200 OK", b"application/x-ndjson", None)


class MockProtocol(asyncio.Protocol):
    def __init__(self, replies: Replies, delay: float, chunk_delay: float) -> None:
        self.replies = replies
        self.delay = delay
        self.chunk_delay = chunk_delay
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        method, path = self.parser.get_method(), self.url.split(b"?", 1)[0]
        body = b"".join(self.body)
        self.url, self.body = b"", []
        keep_alive = self.parser.should_keep_alive()
        pieces = self._route(method, path, body)
        loop = asyncio.get_running_loop()
        if self.delay or (self.chunk_delay and len(pieces) > 1):
            loop.create_task(self._send_slowly(pieces, keep_alive))
        else:
            self._send(b"".join(pieces), keep_alive)

    def _route(self, method: bytes, path: bytes, body: bytes) -> list[bytes]:
        r = self.replies
        if method == b"POST" and path == b"/v1/chat/completions":
            if _stream(body, default=False):
                return [r.sse_head + r.openai_stream[0], *r.openai_stream[1:], b"0\r\n\r\n"]
            return [r.openai]
        if method == b"POST" and path == b"/api/chat":
            if _stream(body, default=True):
                return [r.ndjson_head + r.ollama_stream[0], *r.ollama_stream[1:], b"0\r\n\r\n"]
            return [r.ollama]
        if method == b"GET" and path == b"/v1/models":
            return [r.models]
        if method == b"GET" and path == b"/api/tags":
            return [r.tags]
        return [r.not_found]

    def _send(self, data: bytes, keep_alive: bool) -> None:
        if self.transport is None:
            return
        self.transport.write(data)
        if not keep_alive:
            self.transport.close()

    async def _send_slowly(self, pieces: list[bytes], keep_alive: bool) -> None:
        await asyncio.sleep(self.delay)
        last = len(pieces) - 1
        for i, piece in enumerate(pieces):
            if self.transport is None:
                return  # the client hung up: stop, as a real model server would
            self.transport.write(piece)
            # The terminating empty chunk follows the last data chunk at once.
            if self.chunk_delay and i + 1 < last:
                await asyncio.sleep(self.chunk_delay)
        self._send(b"", keep_alive)


def _stream(body: bytes, default: bool) -> bool:
    try:
        flag = _decode_stream_flag(body).stream
    except msgspec.DecodeError:
        return default
    return default if flag is None else flag


async def serve(host: str, port: int, *, delay_ms: float = 0, chunk_delay_ms: float = 0,
                chunks: int = 5) -> asyncio.Server:
    replies = Replies(chunks)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: MockProtocol(replies, delay_ms / 1000, chunk_delay_ms / 1000),
        host, port, backlog=4096, reuse_address=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.mock_upstream",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0, help="wait before replying")
    parser.add_argument("--chunk-delay-ms", type=float, default=0, help="wait between chunks")
    parser.add_argument("--chunks", type=int, default=5, help="content chunks per streamed reply")
    args = parser.parse_args(argv)

    async def run() -> None:
        server = await serve(args.host, args.port, delay_ms=args.delay_ms,
                             chunk_delay_ms=args.chunk_delay_ms, chunks=args.chunks)
        print(f"mock upstream on http://{args.host}:{args.port}", flush=True)
        async with server:
            await server.serve_forever()

    uvloop.run(run())


if __name__ == "__main__":
    main()
