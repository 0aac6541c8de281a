"""When each event of a streamed reply arrives: time to first byte and total.

wrk times whole responses only, so streams get this small client: blocking
sockets, one keep-alive connection, requests one after another (c=1), and a
clock read after every ``recv``. It is exact at c=1, which is where the
time-to-first-byte target is set.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

_END = b"\r\n0\r\n\r\n"  # the last chunk of a chunked body


@dataclass
class Timing:
    ttfb: float  # seconds from sending the request to the first "data:" event
    total: float  # seconds to the end of the reply
    events: list[float]  # seconds to each "data:" event


class StreamClient:
    def __init__(self, url: str, body: bytes) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.request = (
            f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        self.sock: socket.socket | None = None

    def __enter__(self) -> StreamClient:
        self.sock = socket.create_connection(self.address, timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.sock is not None:
            self.sock.close()

    def once(self) -> Timing:
        assert self.sock is not None
        start = time.perf_counter()
        self.sock.sendall(self.request)
        buf, events = b"", []
        while not buf.endswith(_END):
            data = self.sock.recv(65536)
            now = time.perf_counter() - start
            if not data:
                raise ConnectionError(f"connection closed mid-reply: {buf[:300]!r}")
            if not buf and not data.startswith(b"HTTP/1.1 200"):
                raise ConnectionError(f"not a 200 reply: {data[:300]!r}")
            buf += data
            events.extend([now] * (buf.count(b"data:") - len(events)))
        if not events:
            raise ConnectionError(f"a reply without events: {buf[:300]!r}")
        return Timing(ttfb=events[0], total=now, events=events)


def measure(url: str, body: bytes, *, requests: int, warmup: int = 20) -> list[Timing]:
    with StreamClient(url, body) as client:
        for _ in range(warmup):
            client.once()
        return [client.once() for _ in range(requests)]
