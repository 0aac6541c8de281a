"""``X-Gateway-Overhead-Ms``: how long a request spent in the gateway itself.

The header carries the time from the request reaching the app to its
response starting, minus the time spent waiting on upstreams, so users can
see the gateway's cost on every call. For a stream the response starts with
its first chunk, so the header covers the gateway's work up to there.
"""

from __future__ import annotations

from contextvars import ContextVar
from time import perf_counter
from typing import Any

HEADER = b"x-gateway-overhead-ms"

# Seconds spent waiting on upstreams by the current request; None outside one.
_upstream_wait: ContextVar[list[float] | None] = ContextVar("upstream_wait", default=None)


def add_upstream_wait(seconds: float) -> None:
    """Count ``seconds`` of the current request as spent waiting on an upstream."""
    tally = _upstream_wait.get()
    if tally is not None:
        tally[0] += seconds


class OverheadHeader:
    """ASGI middleware adding :data:`HEADER` to every HTTP response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        tally = [0.0]
        token = _upstream_wait.set(tally)

        async def send_with_header(message: Any) -> None:
            if message["type"] == "http.response.start":
                ms = (perf_counter() - start - tally[0]) * 1000
                headers = [*message.get("headers", ()), (HEADER, b"%.2f" % ms)]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_header)
        finally:
            _upstream_wait.reset(token)
