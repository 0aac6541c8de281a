"""The gateway's Prometheus metrics.

Metrics live in ``prometheus_client``'s default registry, so a plugin's own
``prometheus_client`` metrics appear on ``/metrics`` too. With several worker
processes (``gateway serve --workers N``) each worker writes its values to
files in ``$PROMETHEUS_MULTIPROC_DIR`` and a scrape sums them; the client
library chooses that mode when it is imported, and so does this module.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import accumulate
from typing import Any, Literal, get_args

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.utils import floatToGoString

from .context import RequestRecord

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_MULTIPROCESS = MULTIPROC_ENV in os.environ

# The "_created" series would double the scrape for a timestamp Prometheus
# does not use by default.
disable_created_metrics()

# From a cached health check (~1 ms) to a slow local model (minutes).
_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            30.0, 60.0, 120.0, 300.0)

# Model names come from clients; past this many per provider (per worker)
# they are counted as "other", so made-up names cannot flood Prometheus.
MAX_MODELS_PER_PROVIDER = 100
OTHER_MODEL = "other"
# The route label of requests that matched no route (404, 405).
UNMATCHED_ROUTE = "unmatched"


class _Count:
    __slots__ = ("value",)
    family = CounterMetricFamily

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def add_to(self, family: CounterMetricFamily, labels: list[str]) -> None:
        family.add_metric(labels, self.value)


_BUCKET_LABELS = [floatToGoString(bound) for bound in _SECONDS] + ["+Inf"]


class _Buckets:
    __slots__ = ("counts", "sum")
    family = HistogramMetricFamily

    def __init__(self) -> None:
        # One count per bucket, the last one above the largest bound.
        self.counts = [0] * (len(_SECONDS) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        # A value on a bound belongs to that bound's bucket ("le").
        self.counts[bisect_left(_SECONDS, seconds)] += 1
        self.sum += seconds

    def add_to(self, family: HistogramMetricFamily, labels: list[str]) -> None:
        family.add_metric(labels, list(zip(_BUCKET_LABELS, accumulate(self.counts), strict=True)),
                          self.sum)


class _Metric:
    """One of the gateway's metrics, with its children looked up once per label values.

    prometheus_client's children lock and check their type on every update,
    and ``labels()`` converts and validates on every call: for the five
    updates of a chat, 2.6 % of its CPU instructions (``make instructions``).
    In one process this metric keeps its children as plain numbers and is
    the collector that shows them when scraped. With several workers, each
    worker's values must be in its files, so the children are
    prometheus_client's own.
    """

    def __init__(self, child: type[_Count | _Buckets], name: str, documentation: str,
                 labelnames: tuple[str, ...]) -> None:
        self._child, self._name, self._documentation = child, name, documentation
        self._labelnames = labelnames
        self._children: dict[tuple[object, ...], Any] = {}
        self._metric: Any = None
        if not _MULTIPROCESS:
            REGISTRY.register(self)
        elif child is _Count:
            self._metric = Counter(name, documentation, labelnames)
        else:
            self._metric = Histogram(name, documentation, labelnames, buckets=_SECONDS)

    def labels(self, *values: object) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = (
                self._child() if self._metric is None else self._metric.labels(*values))
        return child

    def collect(self) -> Iterator[Any]:
        family = self._child.family(self._name, self._documentation, labels=self._labelnames)
        for values, child in self._children.items():
            child.add_to(family, [str(v) for v in values])
        yield family


REQUESTS = _Metric(
    _Count, "gateway_requests", "HTTP requests served, by route template and outcome.",
    ("route", "provider", "model", "status"))
REQUEST_SECONDS = _Metric(
    _Buckets, "gateway_request_duration_seconds",
    "Whole request, from arrival to the last byte sent (streams included).",
    ("route", "provider", "model"))
UPSTREAM_SECONDS = _Metric(
    _Buckets, "gateway_upstream_duration_seconds",
    "Time spent waiting on the upstream within a chat request.",
    ("provider", "model"))
FIRST_CHUNK_SECONDS = _Metric(
    _Buckets, "gateway_time_to_first_chunk_seconds",
    "Streamed chats: from the request's arrival to the upstream's first chunk.",
    ("provider", "model"))
TOKENS = _Metric(
    _Count, "gateway_tokens", "Tokens in (prompt) and out (completion); source is "
    "'reported' when the provider counted them, 'estimated' when the gateway did.",
    ("provider", "model", "direction", "source"))
UPSTREAM_ERRORS = _Metric(
    _Count, "gateway_upstream_errors", "Failed upstream calls, by the error's kind.",
    ("provider", "kind"))
PULLS = _Metric(
    _Count, "gateway_model_pulls", "Model downloads a provider plugin ran, by outcome.",
    ("provider", "model", "outcome"))
IN_FLIGHT = Gauge(
    "gateway_requests_in_flight", "Requests being served right now.",
    multiprocess_mode="livesum")


class _Series:
    """The children one request's labels lead to, so that a request looks
    up one object rather than one per metric. Those of the upstream's
    metrics are made when first used: a route that calls no upstream shows
    no empty histograms for it."""

    __slots__ = ("provider", "model", "requests", "seconds", "_upstream", "_first_chunk",
                 "_tokens")

    def __init__(self, route: str, provider: str, model: str, status: int) -> None:
        self.provider, self.model = provider, model
        self.requests = REQUESTS.labels(route, provider, model, status)
        self.seconds = REQUEST_SECONDS.labels(route, provider, model)
        self._upstream: Any = None
        self._first_chunk: Any = None
        self._tokens: dict[tuple[str, str], Any] = {}

    def upstream(self) -> Any:
        if self._upstream is None:
            self._upstream = UPSTREAM_SECONDS.labels(self.provider, self.model)
        return self._upstream

    def first_chunk(self) -> Any:
        if self._first_chunk is None:
            self._first_chunk = FIRST_CHUNK_SECONDS.labels(self.provider, self.model)
        return self._first_chunk

    def tokens(self, direction: str, source: str) -> Any:
        child = self._tokens.get((direction, source))
        if child is None:
            child = self._tokens[direction, source] = TOKENS.labels(
                self.provider, self.model, direction, source)
        return child


_series: dict[tuple[str, str, str, int], _Series] = {}


def _series_of(route: str, provider: str, model: str, status: int) -> _Series:
    key = (route, provider, model, status)
    series = _series.get(key)
    if series is None:
        series = _series[key] = _Series(route, provider, model, status)
    return series


_models: dict[str, set[str]] = {}


def model_label(provider: str, model: str) -> str:
    seen = _models.setdefault(provider, set())
    if model in seen:
        return model
    if len(seen) >= MAX_MODELS_PER_PROVIDER:
        return OTHER_MODEL
    seen.add(model)
    return model


if _MULTIPROCESS:
    # Each worker's count is in its own file, which a scrape sums.
    request_started, request_ended = IN_FLIGHT.inc, IN_FLIGHT.dec
else:
    # A plain count, read when scraped: the gauge's inc() and dec() lock.
    _in_flight = 0

    def request_started() -> None:
        global _in_flight
        _in_flight += 1

    def request_ended() -> None:
        global _in_flight
        _in_flight -= 1

    IN_FLIGHT.set_function(lambda: _in_flight)


def observe(route: str, status: int, seconds: float, record: RequestRecord) -> None:
    """Count one finished request."""
    for provider_id, kind in record.upstream_errors or ():
        UPSTREAM_ERRORS.labels(provider_id, kind).inc()
    call = record.call
    if call is None:
        series = _series_of(route, "", "", status)
        series.requests.inc()
        series.seconds.observe(seconds)
        return
    provider = call.provider.id
    series = _series_of(route, provider, model_label(provider, call.request.model), status)
    series.requests.inc()
    series.seconds.observe(seconds)
    if record.upstream_seconds is not None:
        series.upstream().observe(record.upstream_seconds)
    if record.first_chunk_at is not None:
        series.first_chunk().observe(record.first_chunk_at - record.started)
    usage = record.response.usage if record.response is not None else None
    if usage is not None:
        source = "estimated" if usage.estimated else "reported"
        if usage.prompt_tokens:
            series.tokens("in", source).inc(usage.prompt_tokens)
        if usage.completion_tokens:
            series.tokens("out", source).inc(usage.completion_tokens)


PullOutcome = Literal["started", "succeeded", "failed"]
_OUTCOMES = get_args(PullOutcome)


def record_pull(provider: str, model: str, outcome: PullOutcome) -> None:
    """Count a model pull for ``/metrics`` (``gateway_model_pulls_total``).

    For provider plugins that download models: call it with ``"started"``
    when a pull begins, then once with ``"succeeded"`` or ``"failed"`` when
    it ends. ``provider`` is the provider's id (``provider.id``), ``model``
    the model pulled.

    Example::

        from gateway import record_pull

        record_pull(provider.id, name, "started")
        try:
            await download(name)
        except GatewayError:
            record_pull(provider.id, name, "failed")
            raise
        record_pull(provider.id, name, "succeeded")
    """
    if outcome not in _OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(_OUTCOMES)}, not {outcome!r}")
    PULLS.labels(provider, model_label(provider, model), outcome).inc()


def render() -> tuple[bytes, str]:
    """The current metrics as a Prometheus scrape body and its content type."""
    if _MULTIPROCESS:
        path = os.environ[MULTIPROC_ENV]
        _forget_dead_workers(path)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# A "live" gauge (in flight) counts the processes that are alive, but
# prometheus_client leaves it to the master to say which died
# (mark_process_dead), and uvicorn's never does: a worker killed mid-request
# would count forever. Checked at each scrape, it needs no master's help.
_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


def _forget_dead_workers(path: str) -> None:
    for name in os.listdir(path):
        found = _LIVE_GAUGE_FILE.fullmatch(name)
        if found and not _alive(pid := int(found[1])):
            try:
                mark_process_dead(pid, path)
            except FileNotFoundError:
                pass  # another worker's scrape removed it first


def _alive(pid: int) -> bool:
    # A pid reused by another process keeps the dead worker's file until that
    # process ends too: better a stale count a while than a live one dropped.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    return True


def reset_in_flight() -> None:
    """Called as a worker starts, before it serves: a worker given the pid of
    a dead one opened that one's file and would carry on from its count."""
    if _MULTIPROCESS:
        IN_FLIGHT.set(0)


@contextmanager
def multiprocess_dir() -> Iterator[None]:
    """A private, fresh ``$PROMETHEUS_MULTIPROC_DIR`` for worker processes
    started inside the block; removed, with the workers' files, at exit."""
    path = tempfile.mkdtemp(prefix="gateway-metrics-")
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = path
    try:
        yield
    finally:
        if previous is None:
            del os.environ[MULTIPROC_ENV]
        else:
            os.environ[MULTIPROC_ENV] = previous
        shutil.rmtree(path, ignore_errors=True)

