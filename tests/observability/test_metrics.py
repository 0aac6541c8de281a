"""GET /metrics after known traffic: exact counts, moving histograms."""

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from litestar import Litestar, get, post
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from gateway import record_pull
from gateway.app import create_app
from gateway.observability import metrics
from tests.conftest import OPENAI_URL, SECRET_KEY, gateway_client
from tests.observability.conftest import changes, parse_metrics, sample, scrape
from tests.servers import gateway_process, serve_in_thread
from tests.test_plugins import drop, plugin_dir  # noqa: F401 (a fixture)
from tests.test_chat import chunk, completion, sse

CONFIG = f"""
[server]
plugin_dirs = ["myplugins"]

[providers.openai]
base_url = "{OPENAI_URL}"
api_key = "{SECRET_KEY}"
"""

OPENAI = {"provider": "openai", "model": "gpt-4o-mini"}
USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


@pytest.fixture
async def client(write_config, upstream, plugin_dir):
    upstream.get(f"{OPENAI_URL}/models").respond(json={"data": []})
    async with gateway_client(write_config(CONFIG)) as client:
        yield client


def grown_requests(grown):
    return {dict(labels)["route"]: (dict(labels), value) for (name, labels), value in grown.items()
            if name == "gateway_requests_total"}


async def test_a_chat_counts_request_tokens_and_both_latencies(client, upstream):
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion(usage=USAGE))
    before = await scrape(client)

    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai"})

    grown = changes(before, await scrape(client))
    assert reply.status_code == 200
    assert grown_requests(grown) == {
        "/api/chat": ({"route": "/api/chat", "status": "200", **OPENAI}, 1),
        "/metrics": ({"route": "/metrics", "status": "200", "provider": "", "model": ""}, 1),
    }
    assert grown[sample("gateway_tokens_total", direction="in", source="reported", **OPENAI)] == 12
    assert grown[sample("gateway_tokens_total", direction="out", source="reported", **OPENAI)] == 3
    assert not [k for k in grown if ("source", "estimated") in k[1]]
    whole = ("gateway_request_duration_seconds", dict(route="/api/chat", **OPENAI))
    upstream_part = ("gateway_upstream_duration_seconds", OPENAI)
    for name, labels in (whole, upstream_part):
        assert grown[sample(f"{name}_count", **labels)] == 1
        assert grown[sample(f"{name}_bucket", le="+Inf", **labels)] == 1
    total = grown[sample("gateway_request_duration_seconds_sum", route="/api/chat", **OPENAI)]
    waited = grown[sample("gateway_upstream_duration_seconds_sum", **OPENAI)]
    assert 0 < waited < total


async def test_estimated_usage_is_counted_apart_from_reported(write_config, upstream, plugin_dir):
    drop(plugin_dir, "estimator.py", """
        from gateway import Usage, hookimpl

        @hookimpl
        def gateway_chat_response(response):
            response.usage = Usage(prompt_tokens=5, completion_tokens=7, total_tokens=12,
                                   estimated=True)
    """)
    upstream.get(f"{OPENAI_URL}/models").respond(json={"data": []})
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion())
    async with gateway_client(write_config(CONFIG)) as client:
        before = await scrape(client)
        await client.post("/api/chat", json={"message": "Hi", "provider": "openai"})
        grown = changes(before, await scrape(client))

    tokens = {k: v for k, v in grown.items() if k[0] == "gateway_tokens_total"}
    assert tokens == {
        sample("gateway_tokens_total", direction="in", source="estimated", **OPENAI): 5,
        sample("gateway_tokens_total", direction="out", source="estimated", **OPENAI): 7,
    }


@pytest.mark.parametrize(("kind", "status", "reply"), [
    ("upstream_unreachable", 503, {"side_effect": httpx.ConnectError("refused")}),
    ("upstream_timeout", 504, {"side_effect": httpx.ReadTimeout("slow")}),
    ("model_not_found", 404, {"return_value": httpx.Response(404, json={"error": "no model"})}),
    ("bad_upstream_reply", 502, {"return_value": httpx.Response(200, content=b"not json")}),
    ("rate_limited", 429, {"return_value": httpx.Response(429, json={"error": "slow down"})}),
    ("upstream_error", 502, {"return_value": httpx.Response(500, text="boom")}),
])
async def test_each_upstream_error_is_counted_by_kind(client, upstream, kind, status, reply):
    upstream.post(f"{OPENAI_URL}/chat/completions").mock(**reply)
    before = await scrape(client)

    answer = await client.post("/api/chat", json={"message": "Hi", "provider": "openai"})

    grown = changes(before, await scrape(client))
    assert answer.status_code == status
    errors = {k: v for k, v in grown.items() if k[0] == "gateway_upstream_errors_total"}
    assert errors == {sample("gateway_upstream_errors_total", provider="openai", kind=kind): 1}
    assert grown_requests(grown)["/api/chat"][0]["status"] == str(status)
    assert grown[sample("gateway_upstream_duration_seconds_count", **OPENAI)] == 1


async def test_a_stream_counts_time_to_first_chunk_and_its_usage(client, upstream):
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(
        content=sse(chunk("Hel"), chunk("lo"), chunk(finish="stop"), chunk(usage=USAGE), "[DONE]"),
        headers={"content-type": "text/event-stream"})
    before = await scrape(client)

    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai",
                                                 "stream": True})

    grown = changes(before, await scrape(client))
    assert reply.status_code == 200
    assert grown_requests(grown)["/api/chat"][1] == 1
    assert grown[sample("gateway_time_to_first_chunk_seconds_count", **OPENAI)] == 1
    assert grown[sample("gateway_time_to_first_chunk_seconds_sum", **OPENAI)] > 0
    assert grown[sample("gateway_upstream_duration_seconds_count", **OPENAI)] == 1
    assert grown[sample("gateway_tokens_total", direction="in", source="reported", **OPENAI)] == 12
    assert grown[sample("gateway_tokens_total", direction="out", source="reported", **OPENAI)] == 3


async def test_histogram_buckets_count_up_to_and_including_their_bound(client):
    # The histograms are the gateway's own numbers in one process, not
    # prometheus_client's: they must read as Prometheus's do.
    labels = {"provider": "bucket-test", "model": "m"}
    waits = metrics.UPSTREAM_SECONDS.labels(*labels.values())
    for seconds in (0.0025, 0.003, 0.2, 1000.0):
        waits.observe(seconds)

    seen = await scrape(client)

    def bucket(le):
        return seen[sample("gateway_upstream_duration_seconds_bucket", le=le, **labels)]

    assert [bucket(le) for le in ("0.001", "0.0025", "0.005", "0.25", "300.0", "+Inf")] == [
        0, 1, 2, 3, 3, 4]
    assert seen[sample("gateway_upstream_duration_seconds_count", **labels)] == 4
    assert seen[sample("gateway_upstream_duration_seconds_sum", **labels)] == pytest.approx(
        1000.2055)


async def test_a_stream_failing_midway_counts_the_error_on_a_200(client, upstream):
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(
        content=sse(chunk("Hel"), "{not json"), headers={"content-type": "text/event-stream"})
    before = await scrape(client)

    await client.post("/api/chat", json={"message": "Hi", "provider": "openai", "stream": True})

    grown = changes(before, await scrape(client))
    assert grown_requests(grown)["/api/chat"][0]["status"] == "200"
    assert grown[sample("gateway_upstream_errors_total", provider="openai",
                        kind="bad_upstream_reply")] == 1


async def test_routes_are_counted_by_template_and_unknown_paths_as_unmatched(client):
    before = await scrape(client)

    await client.post("/api/providers/openai/check")
    await client.get("/no/such/path")
    await client.get("/another/missing/path")

    grown = grown_requests(changes(before, await scrape(client)))
    assert grown["/api/providers/{provider_id}/check"][1] == 1
    assert grown["unmatched"] == ({"route": "unmatched", "status": "404", "provider": "",
                                   "model": ""}, 2)


def slow_upstream() -> tuple[Litestar, threading.Event, threading.Event]:
    """A fake OpenAI upstream whose chats wait for ``release``; ``arrived``
    is set when one is waiting."""
    arrived, release = threading.Event(), threading.Event()

    @post("/v1/chat/completions", status_code=200)
    async def slow_completions() -> dict:
        arrived.set()
        while not release.is_set():
            await asyncio.sleep(0.005)
        return completion()

    return Litestar([slow_completions, fake_models], logging_config=None), arrived, release


async def test_in_flight_counts_requests_being_served(write_config):
    # The test client serves one request at a time: real servers here.
    slow, arrived, release = slow_upstream()
    with serve_in_thread(slow) as upstream_url:
        path = write_config(f'[providers.openai]\nbase_url = "{upstream_url}/v1"\n')
        with serve_in_thread(create_app(path)) as url:
            async with httpx.AsyncClient(base_url=url) as client:
                idle = (await scrape(client))[sample("gateway_requests_in_flight")]
                chat = asyncio.create_task(client.post("/api/chat", json={
                    "message": "Hi", "provider": "openai"}))
                while not arrived.is_set():
                    await asyncio.sleep(0.005)
                busy = (await scrape(client))[sample("gateway_requests_in_flight")]
                release.set()
                assert (await chat).status_code == 200
                # The reply can reach the client a moment before the
                # gateway's bookkeeping for it ends.
                for _ in range(200):
                    after = (await scrape(client))[sample("gateway_requests_in_flight")]
                    if after == 1:
                        break
                    await asyncio.sleep(0.01)

    # Each scrape is itself in flight while it renders.
    assert (idle, busy, after) == (1, 2, 1)


async def test_model_names_past_the_limit_are_counted_as_other(write_config, upstream,
                                                                 monkeypatch):
    monkeypatch.setattr(metrics, "MAX_MODELS_PER_PROVIDER", 2)
    upstream.post("http://capped.test/v1/chat/completions").respond(json=completion())
    path = write_config('[providers.capped]\ntype = "openai"\nbase_url = "http://capped.test/v1"\n')
    upstream.get("http://capped.test/v1/models").respond(json={"data": []})
    async with gateway_client(path) as client:
        before = await scrape(client)
        for model in ("m1", "m2", "m3", "m4"):
            await client.post("/api/chat", json={"message": "Hi", "provider": "capped",
                                                 "model": model})
        grown = changes(before, await scrape(client))

    models = {dict(labels)["model"]: value for (name, labels), value in grown.items()
              if name == "gateway_requests_total" and ("provider", "capped") in labels}
    assert models == {"m1": 1, "m2": 1, "other": 2}


PULL_PLUGIN = """
    from litestar import post
    from litestar.params import FromPath
    from gateway import hookimpl, record_pull

    @post("/api/test-pull/{model:str}/{outcome:str}", status_code=200)
    async def pull(model: FromPath[str], outcome: FromPath[str]) -> None:
        record_pull("openai", model, "started")
        record_pull("openai", model, outcome)

    @hookimpl
    def gateway_routes():
        return [pull]
"""


async def test_a_plugin_records_pull_outcomes(write_config, upstream, plugin_dir):
    drop(plugin_dir, "puller.py", PULL_PLUGIN)
    upstream.get(f"{OPENAI_URL}/models").respond(json={"data": []})
    async with gateway_client(write_config(CONFIG)) as client:
        before = await scrape(client)
        await client.post("/api/test-pull/tiny/succeeded")
        await client.post("/api/test-pull/tiny/succeeded")
        await client.post("/api/test-pull/huge/failed")
        grown = changes(before, await scrape(client))

    pulls = {k: v for k, v in grown.items() if k[0] == "gateway_model_pulls_total"}
    assert pulls == {
        sample("gateway_model_pulls_total", provider="openai", model="tiny", outcome="started"): 2,
        sample("gateway_model_pulls_total", provider="openai", model="tiny",
               outcome="succeeded"): 2,
        sample("gateway_model_pulls_total", provider="openai", model="huge", outcome="started"): 1,
        sample("gateway_model_pulls_total", provider="openai", model="huge", outcome="failed"): 1,
    }


def test_record_pull_rejects_an_unknown_outcome():
    with pytest.raises(ValueError, match="started, succeeded, failed"):
        record_pull("openai", "tiny", "done")


async def test_metrics_can_be_switched_off(write_config):
    path = write_config("[metrics]\nenabled = false\n")
    async with gateway_client(path) as client:
        reply = await client.get("/metrics")

    assert reply.status_code == 404


# A fake OpenAI-compatible upstream on a real port, for the gateway process.
@post("/v1/chat/completions", status_code=200)
async def fake_completions() -> dict:
    return completion(usage=USAGE)


@get("/v1/models")
async def fake_models() -> dict:
    return {"object": "list", "data": []}


fake_upstream = Litestar([fake_completions, fake_models], logging_config=None)


def per_worker(metrics_dir, scratch, pattern):
    """By file name, the samples each worker wrote to its own files that
    match ``pattern``, read as if no other worker had written any."""
    for db in metrics_dir.glob(pattern):
        alone = scratch / db.stem
        alone.mkdir(exist_ok=True)
        shutil.copy(db, alone / db.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))
        yield db.stem, parse_metrics(_exposition(registry))


def per_worker_chats(metrics_dir, scratch):
    """The /api/chat count each worker wrote to its own file."""
    return {stem: sum(v for (name, labels), v in values.items()
                      if name == "gateway_requests_total" and ("route", "/api/chat") in labels)
            for stem, values in per_worker(metrics_dir, scratch, "counter_*.db")}


def per_worker_in_flight(metrics_dir, scratch):
    """By pid, the requests in flight each worker wrote to its own file."""
    return {int(stem.rsplit("_", 1)[1]): values[sample("gateway_requests_in_flight")]
            for stem, values in per_worker(metrics_dir, scratch, "gauge_livesum_*.db")}


def wait_for(condition, what, seconds=30):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {what}")
        time.sleep(0.05)
    return found


def scrape_until(url, chats):
    deadline = time.monotonic() + 5
    while True:
        scraped = parse_metrics(httpx.get(f"{url}/metrics").text)
        counted = sum(v for (name, labels), v in scraped.items()
                      if name == "gateway_requests_total" and ("route", "/api/chat") in labels)
        if counted == chats or time.monotonic() > deadline:
            return scraped
        time.sleep(0.01)


def _exposition(registry):
    from prometheus_client import generate_latest

    return generate_latest(registry).decode()


def test_metrics_of_several_workers_add_up(write_config, tmp_path):
    temp = tmp_path / "temp"
    temp.mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with serve_in_thread(fake_upstream) as upstream_url:
        path = write_config(f"""
            [providers.openai]
            base_url = "{upstream_url}/v1"
            api_key = "sk-fake"
        """)
        with gateway_process(path, "--workers", "2", env={"TMPDIR": str(temp)}) as url:
            [metrics_dir] = temp.glob("gateway-metrics-*")

            # No keep-alive: every request a new connection, so both workers get some.
            http = httpx.Client(base_url=url, timeout=10,
                                limits=httpx.Limits(max_keepalive_connections=0))

            def chat(_):
                return http.post("/api/chat", json={"message": "Hi", "provider": "openai"})

            sent = 0
            with http, ThreadPoolExecutor(8) as pool:
                while sent < 320 and len([c for c in per_worker_chats(metrics_dir, scratch)
                                          .values() if c]) < 2:
                    assert {r.status_code for r in pool.map(chat, range(16))} == {200}
                    sent += 16
            # A request is counted just after its reply is sent.
            scraped = scrape_until(url, sent)
            workers = per_worker_chats(metrics_dir, scratch)

        assert not metrics_dir.exists()

    assert len([c for c in workers.values() if c]) == 2
    assert sum(workers.values()) == sent
    labels = dict(route="/api/chat", status="200", **OPENAI)
    assert scraped[sample("gateway_requests_total", **labels)] == sent
    assert scraped[sample("gateway_tokens_total", direction="out", source="reported",
                          **OPENAI)] == 3 * sent


def test_a_killed_worker_no_longer_counts_in_flight(write_config, tmp_path):
    temp = tmp_path / "temp"
    temp.mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    slow, arrived, release = slow_upstream()
    with serve_in_thread(slow) as upstream_url, ThreadPoolExecutor(1) as pool:
        path = write_config(f'[providers.openai]\nbase_url = "{upstream_url}/v1"\n')
        with gateway_process(path, "--workers", "2", env={"TMPDIR": str(temp)}) as url:
            [metrics_dir] = temp.glob("gateway-metrics-*")
            held = pool.submit(httpx.post, f"{url}/api/chat", timeout=60,
                               json={"message": "Hi", "provider": "openai"})
            assert arrived.wait(30)
            [holder] = wait_for(lambda: [pid for pid, n in per_worker_in_flight(
                metrics_dir, scratch).items() if n == 1], "the chat in a worker's file")

            os.kill(holder, signal.SIGKILL)
            with pytest.raises(httpx.TransportError):
                held.result(30)
            # uvicorn starts a worker in its place: files of three pids.
            wait_for(lambda: len(list(metrics_dir.glob("gauge_livesum_*.db"))) == 3,
                     "a new worker")
            in_flight = parse_metrics(httpx.get(f"{url}/metrics").text)
            release.set()

    # Only the scrape itself.
    assert in_flight[sample("gateway_requests_in_flight")] == 1


# A worker in a process whose pid a dead worker had: that one's file is still
# there, with three requests in flight, when this one's gauge opens it.
HEIR_OF_A_DEAD_PID = """
import sys
from litestar.testing import TestClient
from prometheus_client import Gauge

Gauge("gateway_requests_in_flight", "Requests being served right now.",
      multiprocess_mode="livesum", registry=None).inc(3)

from gateway.app import create_app
from gateway.observability.metrics import render

before_start = render()[0].decode()
with TestClient(create_app(sys.argv[1])) as client:
    print(before_start, client.get("/metrics").text, sep="\\n# ---\\n")
"""


def test_a_worker_given_a_dead_workers_pid_starts_with_nothing_in_flight(write_config,
                                                                         tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    path = write_config("")

    run = subprocess.run([sys.executable, "-c", HEIR_OF_A_DEAD_PID, str(path)],
                         env={**os.environ, metrics.MULTIPROC_ENV: str(metrics_dir)},
                         capture_output=True, text=True, timeout=60)

    assert run.returncode == 0, run.stderr
    before_start, scraped = (parse_metrics(text)[sample("gateway_requests_in_flight")]
                             for text in run.stdout.split("# ---\n"))
    # Only the scrape itself, once the worker has started.
    assert (before_start, scraped) == (3, 1)
