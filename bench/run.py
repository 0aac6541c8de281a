"""``make bench``: the gateway against its upstream called directly and a minimal proxy.

One run starts a mock upstream, the gateway and the pass-through proxy, then
measures, for plain and streamed chat at concurrency 1, 16 and 64: req/s and
p50/p99 latency (wrk), the measured server's CPU time per request and its
RSS; time to first event of streams at c=1; whether chunks are forwarded as
they arrive; RSS over many requests; and ``--workers 2``. With two or more
CPUs the gateway and the proxy run alone on the last CPU, everything else on
the first. It prints a table and writes it, with the raw numbers as JSON, to
``bench/results/``.

    python -m bench.run [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from . import load, report, stream_timing
from .mock_upstream import MODEL
from .procstat import PeakRss, cpu_seconds, rss_mb
from .servers import ROOT, Server

RESULTS = ROOT / "bench" / "results"
CONCURRENCY = (1, 16, 64)
SETTLE_SECONDS = 1.0  # see taking_turns
PROMPT = [{"role": "user", "content": "Say hello"}]
# The plain chat each target is sent: OpenAI's shape (the mock, the
# pass-through), the gateway's own API, and the gateway's /v1.
OPENAI_BODY = {"model": MODEL, "messages": PROMPT}
API_CHAT_BODY = {"message": "Say hello", "provider": "mock"}
V1_BODY = {"model": f"mock/{MODEL}", "messages": PROMPT}


@dataclass
class Settings:
    seconds: int  # per wrk run
    # Each load step runs this many times per target, the targets taking turns.
    rounds: int
    stream_requests: int  # timed one by one for time to first event
    soak_requests: int  # for RSS growth
    soak_seconds: int  # a cap on the soak, whatever its rate
    # When set, each load run is this many requests from the Python driver
    # instead of `seconds` of wrk: the smoke run, which checks that every
    # step of the bench still works, not how fast anything is.
    requests_per_run: int = 0

    def drive(self, url: str, body: bytes, connections: int, seconds: int) -> load.Load:
        if self.requests_per_run:
            return load.run_requests(url, body, connections=connections,
                                     requests=self.requests_per_run)
        return load.run(url, body, connections=connections, seconds=seconds)


FULL = Settings(seconds=2, rounds=3, stream_requests=1000, soak_requests=100_000,
                soak_seconds=120)
QUICK = Settings(seconds=1, rounds=1, stream_requests=200, soak_requests=10_000, soak_seconds=20)
SMOKE = Settings(seconds=1, rounds=1, stream_requests=5, soak_requests=100, soak_seconds=5,
                 requests_per_run=20)


@dataclass
class Target:
    name: str
    server: Server
    path: str
    body: dict

    def request(self, stream: bool) -> tuple[str, bytes]:
        return self.server.url + self.path, json.dumps({**self.body, "stream": stream}).encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, 10,000-request soak")
    parser.add_argument("--profile", action="store_true",
                        help="also record a py-spy flame graph of the gateway under load")
    parser.add_argument("--smoke", action="store_true",
                        help="every step with a few requests and no wrk (for the test suite)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    args = parser.parse_args(argv)
    if not args.smoke and not load.available():
        print("bench: wrk is not installed (Debian/Ubuntu: apt-get install wrk)", file=sys.stderr)
        return 2
    settings = SMOKE if args.smoke else QUICK if args.quick else FULL
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = run(settings, args.out / f"{stamp}-gateway.svg" if args.profile else None)
    results["quick"] = args.quick
    text = report.render(results)
    print(text)
    (args.out / f"{stamp}.txt").write_text(text + "\n")
    (args.out / f"{stamp}.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwritten: {args.out / stamp}.txt and .json", file=sys.stderr)
    return 0


def run(settings: Settings, profile_svg: Path | None) -> dict:
    all_cpus = os.sched_getaffinity(0)
    load_cpus, gateway_cpus = cpu_layout(all_cpus)
    if load_cpus:
        # wrk, the mocks and the stream client inherit this.
        os.sched_setaffinity(0, load_cpus)
    try:
        return _run(settings, profile_svg, all_cpus, load_cpus, gateway_cpus)
    finally:
        os.sched_setaffinity(0, all_cpus)


def _run(settings: Settings, profile_svg: Path | None, all_cpus: set[int],
         load_cpus: set[int] | None, gateway_cpus: set[int] | None) -> dict:
    results: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "settings": asdict(settings),
                     "machine": machine(load_cpus, gateway_cpus)}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as running:
        logs = Path(tmp)

        def start(server: Server) -> Server:
            running.callback(server.stop)
            return server.start()

        mock = start(Server("mock", ["bench.mock_upstream"], "/v1/models", load_cpus, logs))
        slow = start(Server("mock-slow", ["bench.mock_upstream", "--chunk-delay-ms", "50"],
                            "/v1/models", load_cpus, logs))
        config = write_config(logs / "gateway.toml", mock.url, slow.url)
        gateway = start(Server("gateway", ["gateway.cli", "serve", "--config", str(config)],
                               "/health", gateway_cpus, logs))
        proxy = start(Server("passthrough", ["bench.passthrough", "--upstream", f"{mock.url}/v1"],
                             "/", gateway_cpus, logs))
        results["gateway_rss_idle_mb"] = rss_mb(gateway.pid)[0]
        api_chat = Target("gateway /api/chat", gateway, "/api/chat", API_CHAT_BODY)
        targets = [Target("direct (mock)", mock, "/v1/chat/completions", OPENAI_BODY),
                   Target("pass-through", proxy, "/", OPENAI_BODY), api_chat,
                   Target("gateway /v1", gateway, "/v1/chat/completions", V1_BODY)]

        results["runs"] = [run for stream in (False, True) for c in CONCURRENCY
                           for run in taking_turns(targets, stream, c, settings)]
        results["first_event"] = [first_event(t, settings) for t in targets]
        results["forwarding"] = forwarding(slow, gateway)
        results["soak"] = soak(api_chat, settings)
        if profile_svg:
            results["profile"] = profile(api_chat, settings, profile_svg)
        gateway.stop()
        proxy.stop()
        results["workers"] = workers(config, api_chat, settings, logs, all_cpus)
    results["machine"]["calibration_end_ms"] = calibration_ms(gateway_cpus)
    return results


def cpu_layout(cpus: set[int]) -> tuple[set[int] | None, set[int] | None]:
    """(CPUs for load and mocks, CPUs for the measured server); no pinning on one CPU."""
    cpus = sorted(cpus)
    if len(cpus) < 2:
        return None, None
    return {cpus[0]}, {cpus[-1]}


def machine(load_cpus: set[int] | None, gateway_cpus: set[int] | None) -> dict:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.machine())
    return {
        "cpu": model, "cpus": os.cpu_count(), "load_cpus": sorted(load_cpus or []),
        "gateway_cpus": sorted(gateway_cpus or []), "python": platform.python_version(),
        "versions": {p: metadata.version(p) for p in
                     ("uvicorn", "litestar", "httpx", "aiohttp", "msgspec", "uvloop")},
        "loadavg_start": os.getloadavg()[0],
        "calibration_start_ms": calibration_ms(gateway_cpus),
    }


def calibration_ms(cpus: set[int] | None) -> float:
    """A fixed pure-Python loop on the gateway's CPU: compares machines and noise."""
    code = ("import time\nbest = 1e9\nfor _ in range(30):\n t = time.perf_counter()\n"
            " sum(range(100000))\n best = min(best, time.perf_counter() - t)\nprint(best)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    return float(out.stdout) * 1000


def write_config(path: Path, mock_url: str, slow_url: str) -> Path:
    path.write_text(f"""
[providers.mock]
type = "openai"
base_url = "{mock_url}/v1"
api_key = "bench-not-a-real-key"
model = "{MODEL}"

[providers.slow]
type = "openai"
base_url = "{slow_url}/v1"
api_key = "bench-not-a-real-key"
model = "{MODEL}"
""")
    return path


def measure(target: Target, stream: bool, connections: int, settings: Settings,
            warm_up: bool) -> dict:
    url, body = target.request(stream)
    if warm_up:
        settings.drive(url, body, CONCURRENCY[-1], seconds=1)
        _settle(settings)
    pid = target.server.pid
    cpu = cpu_seconds(pid)
    with PeakRss(pid) as rss:
        result = settings.drive(url, body, connections, seconds=settings.seconds)
    cpu = cpu_seconds(pid) - cpu
    print(f"bench: {target.name:<18} {'stream' if stream else 'plain ':<6} c={connections:<3}"
          f" {result.rps:8.0f} req/s", file=sys.stderr)
    return {
        "target": target.name, "stream": stream, "c": connections, "rps": result.rps,
        "requests": result.requests, "p50_ms": result.p50_ms, "p99_ms": result.p99_ms,
        "errors": result.errors, "cpu_us": cpu / max(result.requests, 1) * 1e6,
        "rss_mb": rss.peak,
    }


def _settle(settings: Settings) -> None:
    # Only wrk's runs: the smoke run's few requests leave nothing to settle.
    if not settings.requests_per_run:
        time.sleep(SETTLE_SECONDS)


def taking_turns(targets: list[Target], stream: bool, connections: int,
                 settings: Settings) -> list[dict]:
    """One load step for every target, ``settings.rounds`` times, the targets
    taking turns; for each, its median run by req/s.

    A run on the server the previous run loaded starts after a pause, as
    every other run does after the other servers' turns: wrk's 64 new
    connections, opened the moment the last 64 closed, had their first
    requests answered one after another some 7 ms apart (up to 0.3 s for the
    last), a p99 of 110-180 ms against 28-39 ms a second later.

    The ratios the targets are judged by compare the gateway with the mock
    and the proxy. On a shared machine whose speed drifts over minutes,
    measuring them minutes apart would put the drift into those ratios.
    """
    runs: dict[str, list[dict]] = {t.name: [] for t in targets}
    previous: Server | None = None
    for turn in range(settings.rounds):
        for target in targets:
            if target.server is previous:
                _settle(settings)
            warm_up = turn == 0 and connections == CONCURRENCY[0]
            runs[target.name].append(measure(target, stream, connections, settings, warm_up))
            previous = target.server
    return [sorted(each, key=lambda run: run["rps"])[len(each) // 2] for each in runs.values()]


def first_event(target: Target, settings: Settings) -> dict:
    url, body = target.request(True)
    timings = stream_timing.measure(url, body, requests=settings.stream_requests)
    ttfb = sorted(t.ttfb * 1000 for t in timings)
    total = sorted(t.total * 1000 for t in timings)
    return {"target": target.name, "ttfb_p50_ms": percentile(ttfb, 50),
            "ttfb_p99_ms": percentile(ttfb, 99), "total_p50_ms": percentile(total, 50),
            "total_p99_ms": percentile(total, 99)}


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def forwarding(slow: Server, gateway: Server) -> dict:
    """Event arrival times when the upstream sends one event every 50 ms."""
    cases = {
        "direct": (f"{slow.url}/v1/chat/completions",
                   {"model": MODEL, "messages": PROMPT, "stream": True}),
        "gateway /api/chat": (f"{gateway.url}/api/chat",
                              {"message": "Say hello", "provider": "slow", "stream": True}),
    }
    out = {}
    for name, (url, body) in cases.items():
        timings = stream_timing.measure(url, json.dumps(body).encode(), requests=3, warmup=1)
        out[name] = {"first_ms": statistics.median(t.events[0] for t in timings) * 1000,
                     "last_ms": statistics.median(t.events[-1] for t in timings) * 1000}
    return out


def soak(target: Target, settings: Settings) -> dict:
    """RSS of the gateway while it serves ``soak_requests`` plain chats at c=64."""
    url, body = target.request(False)
    pid = target.server.pid
    samples = [(0, rss_mb(pid)[0])]
    done, deadline = 0, time.monotonic() + settings.soak_seconds
    segment = max(1, settings.soak_seconds // 10)
    while done < settings.soak_requests and time.monotonic() < deadline:
        done += settings.drive(url, body, CONCURRENCY[-1], seconds=segment).requests
        samples.append((done, rss_mb(pid)[0]))
    print(f"bench: soak of {done} requests done", file=sys.stderr)
    return {"requests": done, "samples": samples}


def workers(config: Path, like: Target, settings: Settings, logs: Path,
            cpus: set[int]) -> list[dict]:
    """One worker against ``--workers 2``, both free to use every CPU (as a user's
    would), so they share CPUs with the mock and wrk."""
    out = []
    for n in (1, 2):
        server = Server(f"gateway-workers-{n}", ["gateway.cli", "serve", "--config", str(config),
                                                 "--workers", str(n)], "/health", cpus, logs)
        server.start()
        try:
            result = measure(Target(like.name, server, like.path, like.body), False,
                             CONCURRENCY[-1], settings, warm_up=True)
            out.append({**result, "workers": n, "rss_mb_each": rss_mb(server.pid)})
        finally:
            server.stop()
    return out


def profile(target: Target, settings: Settings, svg: Path) -> str:
    """A py-spy flame graph of the gateway serving plain chats at c=64."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    url, body = target.request(False)
    seconds = max(3, settings.seconds)
    recorder = subprocess.Popen([spy, "record", "-p", str(target.server.pid), "-d", str(seconds),
                                 "-r", "200", "-o", str(svg), "--nonblocking"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    settings.drive(url, body, CONCURRENCY[-1], seconds=seconds + 1)
    _, err = recorder.communicate()
    if recorder.returncode != 0:
        return f"py-spy failed: {err.decode(errors='replace').strip()[-300:]}"
    return str(svg.relative_to(ROOT))


if __name__ == "__main__":
    sys.exit(main())
