"""Stopping a request's work as soon as its client hangs up.

An ASGI server reports a hang-up only through ``receive()``, which a handler
waiting for an upstream reply never calls: without this middleware the
gateway would keep the upstream working for a client that is gone. Litestar
already stops a *streamed* response on hang-up, but only while sending it.
"""

from __future__ import annotations

import anyio
from litestar.types import ASGIApp, Message, Receive, Scope, Send

_HUNG_UP: Message = {"type": "http.disconnect"}


def cancel_on_disconnect(app: ASGIApp) -> ASGIApp:
    """Wrap ``app`` so that a client hang-up cancels the request's task.

    A listener owns the server's ``receive`` and hands the request body on one
    message at a time, so the server's flow control on uploads still works.
    A hang-up after the response is complete cancels nothing.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        to_app, inbox = anyio.create_memory_object_stream[Message](1)
        response_complete = False

        async def listen(request_scope: anyio.CancelScope) -> None:
            async with to_app:
                while (message := await receive())["type"] != "http.disconnect":
                    await to_app.send(message)
            if not response_complete:
                request_scope.cancel()

        async def receive_from_listener() -> Message:
            try:
                return await inbox.receive()
            except anyio.EndOfStream:
                return _HUNG_UP

        async def tracking_send(message: Message) -> None:
            nonlocal response_complete
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                response_complete = True
            await send(message)

        with inbox:
            async with anyio.create_task_group() as group:
                group.start_soon(listen, group.cancel_scope)
                await app(scope, receive_from_listener, tracking_send)
                group.cancel_scope.cancel()

    return middleware
