"""Requests that end early: the client hung up, or the server is shutting down.

An ASGI server reports a hang-up only through ``receive()``, which a handler
waiting for an upstream reply never calls: without this middleware the
gateway would keep the upstream working for a client that is gone. Litestar
already stops a *streamed* response on hang-up, but only while sending it.

When the shutdown grace period is over, the server cancels the requests still
running; one whose response has not started gets a 503 in the endpoint's
error shape rather than the server's bare 500 and a logged traceback.

A client that sends its body slowly (a byte now and then) would hold its
request, and a connection, for as long as it likes; the ASGI server has no
limit on that. So the body must arrive within a time limit, or the request
ends with a 408.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from time import perf_counter

from litestar import Request
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from .error_handlers import error_response
from .observability.context import request_record

_HUNG_UP: Message = {"type": "http.disconnect"}


# A request still running this long after its body arrived gets a task that
# listens for a hang-up. A task for every request was 3 % of the
# instructions of a plain chat, for replies mostly done in a few
# milliseconds: a hang-up during those costs the upstream at most this long.
LISTEN_AFTER = 0.1


def cancel_on_disconnect(app: ASGIApp, body_timeout: float) -> ASGIApp:
    """Wrap ``app`` so that a client hang-up cancels the request's task, and
    so does a body that has not arrived ``body_timeout`` seconds after the
    request did (answered with a 408).

    A hang-up is heard from :data:`LISTEN_AFTER` seconds after the body
    arrived; one after the response is complete cancels nothing.
    """
    bodies = _Timeline(body_timeout, _Watch.body_due)
    listens = _Timeline(LISTEN_AFTER, _Watch.listen_due)

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        watch = _Watch(scope, receive, bodies, listens)
        try:
            await app(scope, watch.receive, send)
        except asyncio.CancelledError:
            if watch.hung_up:
                # Our own cancellation: it ends here, the request is over.
                watch.task.uncancel()
                return
            if watch.too_slow:
                watch.task.uncancel()
                # The rest of the body may still be on its way: the
                # connection is closed rather than read to its end.
                await _error_reply(scope, send, 408, "request_timeout",
                                   f"The request body did not arrive within {body_timeout:g} s",
                                   {"connection": "close"})
                return
            # The server's: its grace period after SIGTERM is over.
            if watch.record.status:
                raise
            await _error_reply(scope, send, 503, "shutting_down",
                               "The gateway is shutting down; send the request again")
        finally:
            watch.stop()

    return middleware


class _Timeline:
    """Requests due ``delay`` seconds after they were added, and one timer
    for all of them: a timer per request (scheduled, then cancelled once the
    request had moved on) was 1.5 % of the instructions of a plain chat.

    Every request waits the same time, so the oldest one is the first due:
    the timer is set for it, and when it fires it hands each request that is
    due to ``due``, which may add it again, and is set for the oldest one
    left.
    """

    __slots__ = ("delay", "due", "_waiting", "_timer", "_loop")

    def __init__(self, delay: float, due: Callable[[_Watch], None]) -> None:
        self.delay = delay
        self.due = due
        # In the order they were added, so in the order they are due.
        self._waiting: dict[_Watch, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, watch: _Watch) -> None:
        loop = watch.task.get_loop()
        if loop is not self._loop:
            # The app is served on a new event loop (one per test client,
            # or asyncio.run): the old loop's requests and timer are gone.
            self._waiting.clear()
            self._timer, self._loop = None, loop
        self._waiting[watch] = loop.time()
        if self._timer is None:
            self._timer = loop.call_later(self.delay, self._check)

    def remove(self, watch: _Watch) -> None:
        self._waiting.pop(watch, None)

    def _check(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        due = []
        for watch, added in self._waiting.items():
            if added > now - self.delay:
                break
            due.append(watch)
        for watch in due:
            del self._waiting[watch]
        for watch in due:
            self.due(watch)
        first = next(iter(self._waiting.values()), None)
        self._timer = (None if first is None
                       else self._loop.call_at(first + self.delay, self._check))


class _Watch:
    """Hears a hang-up for one request and cancels the request's task.

    The app reads the request body from the server as usual. Once it has
    (at once when the request has no body) and :data:`LISTEN_AFTER` seconds
    later, a listener task waits on the server's ``receive()``, which from
    then on only reports the end: a disconnect, or the response being
    complete. A later ``receive()`` of the app starts the listener at once
    and waits for that end too. An app that leaves a body unread hears of a
    hang-up only from the server dropping its reply.

    One plain asyncio task and no more: an anyio task group with a memory
    stream was a sixth of the instructions a plain chat took through the
    gateway.
    """

    __slots__ = ("task", "record", "hung_up", "too_slow", "awaiting_body",
                 "_receive", "_listener", "_unread", "_ended", "_bodies", "_listens",
                 "_reading")

    def __init__(self, scope: Scope, receive: Receive, bodies: _Timeline,
                 listens: _Timeline) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        # Its status says whether the reply has started (0: not yet), and
        # whether it is complete.
        self.record = request_record()
        self.hung_up = self.too_slow = False
        # The app is in receive(), waiting for the client's body.
        self.awaiting_body = False
        self._receive = receive
        self._listener: asyncio.Task[None] | None = None
        # The (empty) body of a request without one, if the listener got it
        # before the app asked.
        self._unread: Message | None = None
        # What the app's receive() waits for once the listener runs: that
        # empty body, or the end.
        self._ended: asyncio.Future[Message] | None = None
        # Until the app has the whole body, it reads from the server itself.
        self._reading = True
        self._listens = listens
        # Set while the body is on its way.
        self._bodies: _Timeline | None = None
        if _has_body(scope):
            self._bodies = bodies
            bodies.add(self)
        else:
            listens.add(self)

    def body_due(self) -> None:
        # A reply already under way (from an app that starts it before
        # reading the whole body) is left to finish. An app busy with
        # something else (a route that reads its body late, or never) is not
        # the client's fault: it gets the whole time again from then on.
        if not self.awaiting_body:
            self._bodies.add(self)  # type: ignore[union-attr]
            return
        self._bodies = None
        if not self.record.status:
            self.too_slow = True
            self.task.cancel()

    def listen_due(self) -> None:
        if self.awaiting_body:
            self._listens.add(self)  # the app reads the empty body: not at the same time
        else:
            self._listen()

    def _listen(self) -> None:
        self._listens.remove(self)
        self._listener = self.task.get_loop().create_task(self._wait_for_end())

    def _body_ended(self) -> None:
        if self._bodies is not None:
            self._bodies.remove(self)
            self._bodies = None

    async def _wait_for_end(self) -> None:
        message = await self._receive()
        if message["type"] == "http.request":  # the empty body of a request without one
            if self._ended is not None and not self._ended.done():
                self._ended.set_result(message)  # the app is waiting for it
                self._ended = None
            else:
                self._unread = message
            message = await self._receive()
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(message)
        if not self.record.complete:
            self.hung_up = True
            self._tell_the_record()
            self.task.cancel()

    async def receive(self) -> Message:
        if self._listener is None and self._reading:
            self.awaiting_body = True
            since = perf_counter()
            try:
                message = await self._receive()
            finally:
                # Also when a body that is too slow cancels the wait.
                self.record.client_seconds += perf_counter() - since
            self.awaiting_body = False
            if message["type"] == "http.disconnect":
                # Gone while sending the body: the app finds the body cut
                # short and fails, for nobody to hear.
                self._body_ended()
                self._tell_the_record()
            elif not message.get("more_body"):
                self._reading = False
                if self._bodies is not None:
                    self._body_ended()
                    self._listens.add(self)
            return message
        if self._listener is None:
            self._listen()  # the app waits for the end: it is heard at once
        if self._unread is not None:
            message, self._unread = self._unread, None
            return message
        if self._listener.done():
            return _HUNG_UP
        if self._ended is None:
            self._ended = self.task.get_loop().create_future()
        return await self._ended

    def _tell_the_record(self) -> None:
        # Counted and logged as 499 if no reply had started; a stream cut
        # off midway keeps the status it was sent with.
        if not self.record.status:
            self.record.hung_up = True

    def stop(self) -> None:
        # Once the response is complete the server answers the listener's
        # receive() with a disconnect and it ends by itself, which is cheaper
        # than the exception a cancellation throws into it.
        if self._listener is None:
            self._listens.remove(self)
        elif not self.record.complete:
            self._listener.cancel()
        self._body_ended()


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value != b"0"
        if name == b"transfer-encoding":
            return True
    return False


async def _error_reply(scope: Scope, send: Send, status: int, kind: str, message: str,
                       headers: dict[str, str] | None = None) -> None:
    """An error in the endpoint's shape, sent from outside the app."""
    request: Request = Request(scope)
    response = error_response(request, status, kind, message, headers=headers)
    await response.to_asgi_response(app=None, request=request)(scope, _nothing, send)


async def _nothing() -> Message:
    return _HUNG_UP
