"""An OpenAI-compatible upstream that fails on purpose, for the fault soak.

It speaks HTTP/1.1 by hand on 127.0.0.1, so it can fail the way real
servers and networks do: connection resets, truncated bodies, streams cut
mid-way. The request's model names the fault: ``fault-<name>``, one of
:data:`FAULTS`. ``GET /stats`` reports what it has seen.

    python -m bench.faulty_upstream --port 9100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct

#: What each fault does, streamed or not.
FAULTS = {
    "ok": "answers normally",
    "reset": "reads the request, then resets the connection",
    "http500": "answers HTTP 500 with an error body",
    "garbage": "answers 200 with a body that is not JSON",
    "stall": "reads the request and never answers",
    "truncate": "sends part of the reply, then resets the connection",
    "slow": "streams for 5 s (clients hang up on it before then)",
}

REPLY_TEXT = "All good."


class Upstream:
    def __init__(self) -> None:
        self.connections = 0
        self.in_flight = 0
        self.requests = 0
        self.cancelled = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.connections -= 1
            writer.close()

    async def _one_request(self, reader, writer) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, path, _ = request_line.split(" ", 2)
        # Header names are case-insensitive; the gateway's client sends them lower-case.
        headers = {name.lower(): value for name, value in
                   (line.split(": ", 1) for line in header_lines if ": " in line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        if path.endswith("/stats"):
            await _send_json(writer, 200, self.stats())
            return True
        if path.endswith("/models"):
            await _send_json(writer, 200, {"data": [{"id": "fault-ok"}]})
            return True
        request = json.loads(body)
        fault = request["model"].removeprefix("fault-")
        self.requests += 1
        self.in_flight += 1
        try:
            return await _until_hang_up(reader, _REPLIES[fault](writer, request.get("stream")))
        except asyncio.CancelledError:
            self.cancelled += 1
            return False
        finally:
            self.in_flight -= 1

    def stats(self) -> dict[str, int]:
        # This request's own connection is not counted.
        return {"connections": self.connections - 1, "in_flight": self.in_flight,
                "requests": self.requests, "cancelled": self.cancelled}


async def _until_hang_up(reader, reply) -> bool:
    """Run ``reply``; cancel it if the peer closes the connection first."""
    work = asyncio.ensure_future(reply)
    # Polled rather than read, so that no byte of a next request is taken.
    while not work.done():
        if reader.at_eof() or reader.exception() is not None:
            work.cancel()
            raise asyncio.CancelledError
        await asyncio.wait({work}, timeout=0.02)
    return work.result()


def _completion() -> dict:
    return {"id": "c1", "object": "chat.completion", "model": "fault-ok", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": REPLY_TEXT},
         "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}


def _chunk(text: str) -> bytes:
    event = {"id": "c1", "object": "chat.completion.chunk", "model": "fault-ok",
             "choices": [{"index": 0, "delta": {"content": text}}]}
    return b"data: " + json.dumps(event).encode() + b"\n\n"


async def _ok(writer, stream) -> bool:
    if not stream:
        await _send_json(writer, 200, _completion())
        return True
    await _start_stream(writer)
    for word in REPLY_TEXT.split(" "):
        await _send_chunk(writer, _chunk(word + " "))
    await _send_chunk(writer, b"data: [DONE]\n\n")
    await _send_chunk(writer, b"")
    return True


async def _reset(writer, stream) -> bool:
    _reset_connection(writer)
    return False


async def _http500(writer, stream) -> bool:
    await _send_json(writer, 500, {"error": {"message": "the model crashed"}})
    return True


async def _garbage(writer, stream) -> bool:
    if not stream:
        await _send(writer, 200, "application/json", b"{not json at all")
        return True
    await _start_stream(writer)
    await _send_chunk(writer, b"data: {not json\n\n")
    await _send_chunk(writer, b"")
    return True


async def _stall(writer, stream) -> bool:
    await asyncio.sleep(3600)
    return False


async def _truncate(writer, stream) -> bool:
    if not stream:
        body = json.dumps(_completion()).encode()
        writer.write(_head(200, "application/json", len(body)) + body[:20])
    else:
        await _start_stream(writer)
        await _send_chunk(writer, _chunk("All "))
    await writer.drain()
    await asyncio.sleep(0.05)
    _reset_connection(writer)
    return False


async def _slow(writer, stream) -> bool:
    await _start_stream(writer)
    for n in range(50):
        await _send_chunk(writer, _chunk(f"{n} "))
        await asyncio.sleep(0.1)
    await _send_chunk(writer, b"data: [DONE]\n\n")
    await _send_chunk(writer, b"")
    return True


_REPLIES = {"ok": _ok, "reset": _reset, "http500": _http500, "garbage": _garbage,
            "stall": _stall, "truncate": _truncate, "slow": _slow}


def _head(status: int, content_type: str, length: int | None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n"
            .encode())


async def _send(writer, status: int, content_type: str, body: bytes) -> None:
    writer.write(_head(status, content_type, len(body)) + body)
    await writer.drain()


async def _send_json(writer, status: int, body) -> None:
    await _send(writer, status, "application/json", json.dumps(body).encode())


async def _start_stream(writer) -> None:
    writer.write(_head(200, "text/event-stream", None))
    await writer.drain()


async def _send_chunk(writer, data: bytes) -> None:
    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    await writer.drain()


def _reset_connection(writer) -> None:
    # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def main(port: int) -> None:
    upstream = Upstream()
    server = await asyncio.start_server(upstream.serve, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
