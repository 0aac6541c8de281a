"""Fault soak: thousands of chats through a real gateway process to an
upstream that fails on purpose (bench/faulty_upstream.py), with clients that
hang up at random. Afterwards the gateway must still answer, every request
must have got its correct reply or the mapped error, and the gateway's file
descriptors, sockets and memory must be back near where they started.

    python -m bench.fault_soak [--requests 3000] [--concurrency 48] [--seed 1]

Everything runs on 127.0.0.1. Exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

# fault -> share of the requests
MIX = {"ok": 40, "reset": 8, "http500": 8, "garbage": 8, "stall": 6, "truncate": 10, "slow": 8}
# Share of the requests, of any fault, whose client gives up after a random
# moment; "slow" ones are always given up on while they stream.
HANG_UP_SHARE = 0.08
READ_TIMEOUT = 1.5

# What the gateway must answer for each fault, plain and streamed. "done" is
# a stream that ended normally, "event:error" one cut by an error event.
EXPECTED = {
    ("ok", False): "200 ok", ("ok", True): "200 done",
    ("reset", False): "502 upstream_error", ("reset", True): "502 upstream_error",
    ("http500", False): "502 upstream_error", ("http500", True): "502 upstream_error",
    ("garbage", False): "502 bad_upstream_reply", ("garbage", True): "502 bad_upstream_reply",
    ("stall", False): "504 upstream_timeout", ("stall", True): "504 upstream_timeout",
    ("truncate", False): "502 upstream_error", ("truncate", True): "200 event:error",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def usage(pid: int) -> dict[str, int]:
    """Open file descriptors, sockets among them, and resident memory (KiB)."""
    fds = os.listdir(f"/proc/{pid}/fd")
    sockets = 0
    for fd in fds:
        try:
            sockets += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass  # closed while we looked
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return {"fds": len(fds), "sockets": sockets, "rss_kib": rss}


async def one_chat(client: httpx.AsyncClient, fault: str, stream: bool,
                   hang_up_after: float | None) -> str:
    body = {"message": "Hello", "provider": "faulty", "model": f"fault-{fault}", "stream": stream}
    try:
        return await asyncio.wait_for(_chat(client, body), hang_up_after)
    except asyncio.TimeoutError:
        return "hung up"


async def _chat(client: httpx.AsyncClient, body: dict) -> str:
    async with client.stream("POST", "/api/chat", json=body) as reply:
        text = (await reply.aread()).decode()
    if reply.status_code != 200:
        return f"{reply.status_code} {json.loads(text).get('error')}"
    if not body["stream"]:
        return "200 ok" if json.loads(text)["response"] == "All good." else "200 wrong text"
    events = text.strip().split("\n\n")
    last = events[-1].split("\n", 1)[0]
    if last == "event: done":
        words = "".join(json.loads(e[6:])["content"] for e in events[:-1])
        return "200 done" if words.strip() == "All good." else "200 wrong text"
    return "200 event:error" if last == "event: error" else f"200 {last}"


async def run_batch(url: str, count: int, concurrency: int, rng: random.Random) -> list[tuple]:
    """Send ``count`` chats; return (fault, stream, hung_up_on_purpose, outcome) for each."""
    faults = rng.choices(list(MIX), weights=list(MIX.values()), k=count)
    plan = []
    for fault in faults:
        stream = fault == "slow" or rng.random() < 0.5
        hang_up = rng.uniform(0.1, 0.5) if fault == "slow" else (
            rng.uniform(0.0, 0.3) if rng.random() < HANG_UP_SHARE else None)
        plan.append((fault, stream, hang_up))
    queue: asyncio.Queue = asyncio.Queue()
    for item in plan:
        queue.put_nowait(item)
    results = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        async def worker() -> None:
            while not queue.empty():
                fault, stream, hang_up = queue.get_nowait()
                outcome = await one_chat(client, fault, stream, hang_up)
                results.append((fault, stream, hang_up is not None, outcome))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def judge(results: list[tuple]) -> tuple[Counter, list[str]]:
    """Count outcomes; list the requests whose outcome is not the correct one."""
    seen: Counter = Counter()
    wrong = []
    for fault, stream, hung_up, outcome in results:
        seen[(fault, "stream" if stream else "plain", outcome)] += 1
        if outcome == "hung up" and hung_up:
            continue
        expected = EXPECTED.get((fault, stream))
        if outcome != expected:
            wrong.append(f"{fault} {'stream' if stream else 'plain'}: got {outcome!r}, "
                         f"expected {expected!r}")
    return seen, wrong


async def settle(url: str, upstream: str) -> dict:
    """Let idle pooled connections expire, then make the pool notice."""
    await asyncio.sleep(6)  # httpx's keep-alive expiry is 5 s
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        for _ in range(3):
            await client.post("/api/chat", json={"message": "Hi", "provider": "faulty",
                                                 "model": "fault-ok"})
    return httpx.get(f"{upstream}/stats").json()


async def soak(args: argparse.Namespace, url: str, upstream: str, pid: int) -> list[str]:
    rng = random.Random(args.seed)
    problems: list[str] = []
    print(f"warm-up: {args.warmup} requests ...", flush=True)
    await run_batch(url, args.warmup, args.concurrency, rng)
    await settle(url, upstream)
    before = usage(pid)
    print(f"soak: {args.requests} requests, {args.concurrency} at a time ...", flush=True)
    started = time.monotonic()
    results = await run_batch(url, args.requests, args.concurrency, rng)
    took = time.monotonic() - started

    # No orphaned upstream work: whatever the clients gave up on stops.
    drained_after = None
    for step in range(40):
        if httpx.get(f"{upstream}/stats").json()["in_flight"] == 0:
            drained_after = step * 0.05
            break
        await asyncio.sleep(0.05)
    stats = await settle(url, upstream)
    after = usage(pid)
    health = httpx.get(f"{url}/health", timeout=5)

    seen, wrong = judge(results)
    hung_up = sum(1 for *_, outcome in results if outcome == "hung up")
    print(f"\n{len(results)} requests in {took:.1f} s ({len(results) / took:.0f}/s); "
          f"{hung_up} hung up on purpose")
    print(f"{'fault':<9} {'mode':<7} {'outcome':<26} count")
    for (fault, mode, outcome), count in sorted(seen.items()):
        print(f"{fault:<9} {mode:<7} {outcome:<26} {count}")
    print(f"\nwrong outcomes: {len(wrong)}")
    for line in wrong[:20]:
        print("  " + line)
    print(f"upstream work still running after the soak: "
          f"{'none after %.2f s' % drained_after if drained_after is not None else 'YES'}; "
          f"upstream requests cancelled by hang-ups: {stats['cancelled']}")
    print("gateway          before    after")
    for key in ("fds", "sockets", "rss_kib"):
        print(f"  {key:<12} {before[key]:>8} {after[key]:>8}")
    print(f"gateway still answers /health: {health.status_code == 200}")

    if wrong:
        problems.append(f"{len(wrong)} requests got a wrong outcome")
    if drained_after is None:
        problems.append("upstream work kept running after its clients hung up")
    if after["fds"] > before["fds"] + 10 or after["sockets"] > before["sockets"] + 10:
        problems.append("file descriptors or sockets did not come back to their level")
    if after["rss_kib"] > before["rss_kib"] * 1.15 + 10_000:
        problems.append("memory did not come back near its level")
    if health.status_code != 200:
        problems.append("the gateway no longer answers /health")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    upstream_port, gateway_port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{upstream_port}"
    url = f"http://127.0.0.1:{gateway_port}"
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "config.toml"
        config.write_text(
            "[plugins]\nollama = false\n"
            f'[providers.faulty]\ntype = "openai"\nbase_url = "{upstream}/v1"\n'
            f'api_key = "sk-soak"\ntimeout = {READ_TIMEOUT}\nconnect_timeout = 1.0\n')
        log = open(Path(folder) / "gateway.log", "w+")
        processes = [
            subprocess.Popen([sys.executable, "-m", "bench.faulty_upstream",
                              "--port", str(upstream_port)]),
            subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config",
                              str(config), "--port", str(gateway_port)],
                             stdout=log, stderr=subprocess.STDOUT),
        ]
        try:
            _wait_for(f"{url}/health")
            _wait_for(f"{upstream}/stats")
            problems = asyncio.run(soak(args, url, upstream, processes[1].pid))
        finally:
            for process in processes:
                process.terminate()
                process.wait(30)
        log.seek(0)
        tracebacks = log.read().count("Traceback")
        log.close()
    print(f"tracebacks in the gateway's log: {tracebacks}")
    if tracebacks:
        problems.append("the gateway logged tracebacks")
    print("\nPASS" if not problems else "\nFAIL: " + "; ".join(problems))
    return 1 if problems else 0


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not answer in time")
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main())
