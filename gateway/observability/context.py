"""What is known about the HTTP request being served, across the call stack.

The middleware opens a :class:`RequestRecord` per request in a context
variable; the chat service fills in what only it knows (the chat, the time
spent waiting on the upstream, the first chunk, the usage), plugins their own
upstream calls (:func:`upstream_call`), and the middleware reads it back once
the reply is sent. Code running outside a request sees no record.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING

from ..errors import GatewayError

if TYPE_CHECKING:
    from ..chat import ChatCall
    from ..types import ChatResponse


class RequestRecord:
    """One request's facts. ``with record:`` times a wait on the upstream.

    Times are :func:`time.perf_counter` seconds.
    """

    __slots__ = ("request_id", "started", "call", "response", "upstream_seconds",
                 "transport_seconds", "client_seconds", "first_chunk_at", "upstream_errors",
                 "hung_up", "status", "complete",
                 "_waits", "_waits_since", "_calls", "_calls_since", "_last_failure")

    def __init__(self, request_id: str = "", started: float = 0.0) -> None:
        self.request_id = request_id
        self.started = started
        # The chat served, if any: its provider and model label the request.
        self.call: ChatCall | None = None
        self.response: ChatResponse | None = None
        # None until the upstream was called, so routes that never call one
        # are not counted as instant upstream replies.
        self.upstream_seconds: float | None = None
        # Time inside the gateway's HTTP client waiting on upstream sockets
        # (gateway/http_client.py), for any route; None if it was not used.
        self.transport_seconds: float | None = None
        # Time the app waited for the client to send its body
        # (gateway/cancellation.py): the client's time, not the gateway's.
        self.client_seconds = 0.0
        self.first_chunk_at: float | None = None
        # (provider id, error kind) of each failed upstream call.
        self.upstream_errors: list[tuple[str, str]] | None = None
        # The client hung up before the reply started (gateway/cancellation.py).
        self.hung_up = False
        # The reply's status once it has started; 0 until then.
        self.status = 0
        # The reply's last byte has been handed to the server.
        self.complete = False
        # Socket waits in progress, and since when at least one has been.
        self._waits = 0
        self._waits_since = 0.0
        # The same for upstream waits: ``with record:`` blocks and upstream_call.
        self._calls = 0
        self._calls_since = 0.0
        # So that an error passing out of nested blocks is counted once.
        self._last_failure: GatewayError | None = None

    def transport_wait_started(self) -> None:
        """The HTTP client starts waiting on an upstream socket."""
        if not self._waits:
            self._waits_since = perf_counter()
        self._waits += 1

    def transport_wait_ended(self) -> None:
        """One wait is over. Waits that overlap (a route asking every provider
        at once) count once: the time is the one a client waited."""
        self._waits -= 1
        if not self._waits:
            self.transport_seconds = ((self.transport_seconds or 0.0)
                                      + perf_counter() - self._waits_since)

    def call_started(self) -> None:
        """A wait on an upstream starts (``with record:``, :func:`upstream_call`)."""
        if not self._calls:
            self._calls_since = perf_counter()
        self._calls += 1

    def call_ended(self) -> None:
        """One block is over; blocks that overlap count once, as transport waits do."""
        self._calls -= 1
        if not self._calls:
            self.upstream_seconds = ((self.upstream_seconds or 0.0)
                                     + perf_counter() - self._calls_since)

    def failed(self, provider: str, exc: GatewayError) -> None:
        """An upstream call to ``provider`` failed with ``exc``."""
        if exc is self._last_failure:
            return
        self._last_failure = exc
        if self.upstream_errors is None:
            self.upstream_errors = []
        self.upstream_errors.append((provider, exc.kind))

    def overhead_seconds(self, now: float) -> float:
        """Time spent in the gateway itself so far: all of it but the upstream
        waits and the waits for the client's body.

        The client's socket waits are the finer measure; a provider with an
        HTTP client of its own has only the chat service's timing around it.
        """
        waited = self.transport_seconds
        if waited is None:
            waited = self.upstream_seconds or 0.0
        return now - self.started - waited - self.client_seconds

    __enter__ = call_started

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.call_ended()
        if isinstance(exc, GatewayError):
            self.failed(self.call.provider.id if self.call is not None else "", exc)


_current: ContextVar[RequestRecord | None] = ContextVar("gateway_request", default=None)


def bind(record: RequestRecord) -> Token[RequestRecord | None]:
    """Make ``record`` the current request's until :func:`unbind`."""
    return _current.set(record)


def unbind(token: Token[RequestRecord | None]) -> None:
    _current.reset(token)


def request_record() -> RequestRecord:
    """The current request's record; outside a request, a record nobody reads."""
    return _current.get() or RequestRecord()


def upstream_wait() -> RequestRecord:
    """``with upstream_wait(): ...`` counts the block as waiting on the upstream,
    and an error it raises as a failed upstream call."""
    return request_record()


@contextmanager
def upstream_call(provider_id: str) -> Iterator[None]:
    """``with upstream_call(provider.id): ...`` counts the block as a call to that upstream.

    For a plugin's own calls to its upstream, such as a provider's model
    management or a route that asks an outside service. The block's time is
    added to the request's upstream time (``upstream_ms`` in the access log),
    and a :class:`~gateway.errors.GatewayError` it raises, which goes on
    unchanged, is counted as a failed call to ``provider_id``: the access
    line's ``error`` and ``gateway_upstream_errors_total{provider, kind}``.
    Blocks that run at the same time count their time once. Outside a
    request it records nothing. The gateway counts the chats a provider
    answers itself, so do not wrap ``chat`` or ``chat_stream``. An error that
    passes out of blocks inside one another counts once.

    For a stream, wrap each wait for the next piece rather than the loop that
    hands them on, so that time spent on the client is not counted::

        with upstream_call(self.id):
            line = await anext(lines)
        yield line
    """
    record = request_record()
    record.call_started()
    try:
        yield
    except GatewayError as exc:
        record.failed(provider_id, exc)
        raise
    finally:
        record.call_ended()


def current_request_id() -> str | None:
    """The ``X-Request-ID`` of the request being served, or ``None`` outside one.

    Providers send it upstream so one id follows a request through every log;
    :class:`gateway.OpenAICompatibleProvider` already does.
    """
    record = _current.get()
    return record.request_id if record is not None else None
