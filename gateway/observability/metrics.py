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
from collections.abc import Iterator
from contextlib import contextmanager
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
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from ..types import Usage
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

REQUESTS = Counter(
    "gateway_requests", "HTTP requests served, by route template and outcome.",
    ["route", "provider", "model", "status"])
REQUEST_SECONDS = Histogram(
    "gateway_request_duration_seconds",
    "Whole request, from arrival to the last byte sent (streams included).",
    ["route", "provider", "model"], buckets=_SECONDS)
UPSTREAM_SECONDS = Histogram(
    "gateway_upstream_duration_seconds",
    "Time spent waiting on the upstream within a chat request.",
    ["provider", "model"], buckets=_SECONDS)
FIRST_CHUNK_SECONDS = Histogram(
    "gateway_time_to_first_chunk_seconds",
    "Streamed chats: from the request's arrival to the upstream's first chunk.",
    ["provider", "model"], buckets=_SECONDS)
TOKENS = Counter(
    "gateway_tokens", "Tokens in (prompt) and out (completion); source is "
    "'reported' when the provider counted them, 'estimated' when the gateway did.",
    ["provider", "model", "direction", "source"])
UPSTREAM_ERRORS = Counter(
    "gateway_upstream_errors", "Failed upstream calls, by the error's kind.",
    ["provider", "kind"])
IN_FLIGHT = Gauge(
    "gateway_requests_in_flight", "Requests being served right now.",
    multiprocess_mode="livesum")
PULLS = Counter(
    "gateway_model_pulls", "Model downloads a provider plugin ran, by outcome.",
    ["provider", "model", "outcome"])


class _Bound:
    """A metric's label children, looked up once per label values:
    ``labels()`` converts, validates and locks on every call."""

    __slots__ = ("_metric", "_children")

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: object) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


requests = _Bound(REQUESTS)
request_seconds = _Bound(REQUEST_SECONDS)
upstream_seconds = _Bound(UPSTREAM_SECONDS)
first_chunk_seconds = _Bound(FIRST_CHUNK_SECONDS)
tokens = _Bound(TOKENS)
upstream_errors = _Bound(UPSTREAM_ERRORS)
pulls = _Bound(PULLS)

_models: dict[str, set[str]] = {}


def model_label(provider: str, model: str) -> str:
    seen = _models.setdefault(provider, set())
    if model in seen:
        return model
    if len(seen) >= MAX_MODELS_PER_PROVIDER:
        return OTHER_MODEL
    seen.add(model)
    return model


def observe(route: str, status: int, seconds: float, record: RequestRecord) -> None:
    """Count one finished request."""
    for provider_id, kind in record.upstream_errors or ():
        upstream_errors(provider_id, kind).inc()
    call = record.call
    if call is None:
        requests(route, "", "", status).inc()
        request_seconds(route, "", "").observe(seconds)
        return
    provider = call.provider.id
    model = model_label(provider, call.request.model)
    requests(route, provider, model, status).inc()
    request_seconds(route, provider, model).observe(seconds)
    if record.upstream_seconds is not None:
        upstream_seconds(provider, model).observe(record.upstream_seconds)
    if record.first_chunk_at is not None:
        first_chunk_seconds(provider, model).observe(record.first_chunk_at - record.started)
    usage = record.response.usage if record.response is not None else None
    if usage is not None:
        _count_usage(provider, model, usage)


def _count_usage(provider: str, model: str, usage: Usage) -> None:
    source = "estimated" if usage.estimated else "reported"
    if usage.prompt_tokens:
        tokens(provider, model, "in", source).inc(usage.prompt_tokens)
    if usage.completion_tokens:
        tokens(provider, model, "out", source).inc(usage.completion_tokens)


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
    pulls(provider, model_label(provider, model), outcome).inc()


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

