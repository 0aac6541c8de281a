"""Requests that end early: the client hung up, or the server is shutting down.

An ASGI server reports a hang-up only through ``receive()``, which a handler
waiting for an upstream reply never calls: without this middleware the
gateway would keep the upstream working for a client that is gone. Litestar
already stops a *streamed* response on hang-up, but only while sending it.

When the shutdown grace period is over, the server cancels the requests still
running; one whose response has not started gets a 503 in the endpoint's
error shape rather than the server's bare 500 and a logged traceback.
"""

from __future__ import annotations

import anyio
from litestar import Request
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from .error_handlers import error_response

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
        started = complete = False

        async def listen(request_scope: anyio.CancelScope) -> None:
            async with to_app:
                while (message := await receive())["type"] != "http.disconnect":
                    await to_app.send(message)
            if not complete:
                request_scope.cancel()

        async def receive_from_listener() -> Message:
            try:
                return await inbox.receive()
            except anyio.EndOfStream:
                return _HUNG_UP

        async def tracking_send(message: Message) -> None:
            nonlocal started, complete
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                complete = True
            await send(message)

        try:
            with inbox:
                async with anyio.create_task_group() as group:
                    group.start_soon(listen, group.cancel_scope)
                    await app(scope, receive_from_listener, tracking_send)
                    group.cancel_scope.cancel()
        except anyio.get_cancelled_exc_class():
            # A hang-up's cancellation ends inside the task group; one that
            # gets here came from the server, whose grace period is over.
            if started:
                raise
            await _shutting_down(scope, send)

    return middleware


async def _shutting_down(scope: Scope, send: Send) -> None:
    request: Request = Request(scope)
    response = error_response(request, 503, "shutting_down",
                              "The gateway is shutting down; send the request again")
    await response.to_asgi_response(app=None, request=request)(scope, _nothing, send)


async def _nothing() -> Message:
    return _HUNG_UP
