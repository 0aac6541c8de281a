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

import asyncio

from litestar import Request
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from .error_handlers import error_response

_HUNG_UP: Message = {"type": "http.disconnect"}


def cancel_on_disconnect(app: ASGIApp) -> ASGIApp:
    """Wrap ``app`` so that a client hang-up cancels the request's task.

    A hang-up after the response is complete cancels nothing.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        watch = _Watch(receive, send)
        try:
            await app(scope, watch.receive, watch.send)
        except asyncio.CancelledError:
            if watch.hung_up:
                # Our own cancellation: it ends here, the request is over.
                watch.task.uncancel()
                return
            # The server's: its grace period after SIGTERM is over.
            if watch.started:
                raise
            await _shutting_down(scope, send)
        finally:
            watch.stop()

    return middleware


class _Watch:
    """A listener task that owns the server's ``receive`` for one request.

    It hands the request body to the app one message at a time and cancels
    the request's task when the client hangs up. While more body is to come
    it waits for the app to take each message before it asks the server for
    the next, so the server's flow control on uploads still works; after the
    last one it goes on at once, to hear a hang-up even while the app never
    reads the body.

    Plain asyncio futures rather than an anyio task group and memory stream:
    this runs for every request, and those were a sixth of the instructions
    a plain chat took through the gateway.
    """

    __slots__ = ("task", "started", "complete", "hung_up", "_receive", "_send", "_loop",
                 "_next", "_taken", "_listener")

    def __init__(self, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.started = self.complete = self.hung_up = False
        self._receive = receive
        self._send = send
        self._loop = task.get_loop()
        self._next: asyncio.Future[Message] = self._loop.create_future()
        self._taken: asyncio.Future[None] | None = None
        self._listener = self._loop.create_task(self._listen())

    async def _listen(self) -> None:
        while (message := await self._receive())["type"] != "http.disconnect":
            if self._next.done():  # cancelled: the app stopped waiting for it
                self._next = self._loop.create_future()
            self._next.set_result(message)
            if message.get("more_body"):
                self._taken = self._loop.create_future()
                await self._taken
        if not self._next.done():
            self._next.set_result(_HUNG_UP)
        if not self.complete:
            self.hung_up = True
            self.task.cancel()

    async def receive(self) -> Message:
        message = await self._next
        if message is not _HUNG_UP:
            self._next = self._loop.create_future()
            if self._taken is not None:
                self._taken.set_result(None)
                self._taken = None
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            self.complete = True
        await self._send(message)

    def stop(self) -> None:
        # Once the response is complete the server answers the listener's
        # receive() with a disconnect and it ends by itself, which is cheaper
        # than the exception a cancellation throws into it.
        if not self.complete:
            self._listener.cancel()


async def _shutting_down(scope: Scope, send: Send) -> None:
    request: Request = Request(scope)
    response = error_response(request, 503, "shutting_down",
                              "The gateway is shutting down; send the request again")
    await response.to_asgi_response(app=None, request=request)(scope, _nothing, send)


async def _nothing() -> Message:
    return _HUNG_UP
