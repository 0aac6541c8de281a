"""The ASGI middleware around every request: request id, overhead header,
in-flight gauge, metrics and the access log line.

It is plain ASGI, not a Litestar middleware, because those run only after
routing: 404s and 405s would go uncounted, unlogged and without a request id.
"""

from __future__ import annotations

import logging
import random
import re
from time import perf_counter

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from . import metrics
from .context import RequestRecord, bind, unbind
from .logs import access_log, log_access

REQUEST_ID_HEADER = b"x-request-id"
# Time in the gateway itself up to the reply's start, upstream waits left
# out (for a stream: up to its first chunk), so users see the gateway's cost.
OVERHEAD_HEADER = b"x-gateway-overhead-ms"
# What a client may choose as its request id: it ends up in logs and
# upstream headers, so nothing that could break a line or a header.
_SAFE_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")


def _request_id(headers: list[tuple[bytes, bytes]]) -> bytes:
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if _SAFE_ID.fullmatch(value):
                return value
            break
    # Unique, not secret: the random module's generator (seeded from the
    # system's, and again in a forked child) spares a system call per request.
    return random.randbytes(16).hex().encode()


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, *, metrics_enabled: bool, log_bodies: bool) -> None:
        self.app = app
        self.metrics_enabled = metrics_enabled
        self.log_bodies = log_bodies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope["headers"])
        record = RequestRecord(request_id.decode(), perf_counter())
        path = scope["path"]  # routing rewrites it for mounted apps

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                overhead = b"%.2f" % (record.overhead_seconds(perf_counter()) * 1000)
                message["headers"] = [*message.get("headers", ()), (REQUEST_ID_HEADER, request_id),
                                      (OVERHEAD_HEADER, overhead)]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                record.complete = True
            await send(message)

        token = bind(record)
        if self.metrics_enabled:
            metrics.request_started()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if record.hung_up:
                # Nginx's 499 for a client that hung up before the reply
                # started, whatever the app then sent into the void.
                status = 499
            else:
                # No status: the app failed before answering, the server sends a 500.
                status = record.status or 500
            seconds = perf_counter() - record.started
            route = scope.get("path_template") or metrics.UNMATCHED_ROUTE
            if self.metrics_enabled:
                metrics.request_ended()
                metrics.observe(route, status, seconds, record)
            if access_log.isEnabledFor(logging.INFO):
                log_access(scope, path, route, status, seconds, record, self.log_bodies)
            unbind(token)
