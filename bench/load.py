"""The load driver: wrk (C, epoll) with ``post.lua``, far faster than any server measured here.

:func:`run_requests` is a small Python driver for the bench's smoke run in the
test suite, which must not need wrk; its numbers measure the driver as much
as the servers.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

import httpx

SCRIPT = Path(__file__).with_name("post.lua")


@dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors, timeouts and non-2xx replies

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def available() -> bool:
    return shutil.which("wrk") is not None


def run(url: str, body: bytes, *, connections: int, seconds: int) -> Load:
    """POST ``body`` to ``url`` over ``connections`` keep-alive connections for ``seconds``."""
    result = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
         "-s", str(SCRIPT), url],
        env={**os.environ, "BENCH_BODY": body.decode()}, capture_output=True, text=True,
        check=True,
    )
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{result.stdout}\n{result.stderr}")
    values = dict(item.split("=") for item in line.split()[1:])
    return Load(
        requests=int(values["requests"]),
        seconds=int(values["duration_us"]) / 1e6,
        p50_ms=int(values["p50_us"]) / 1000,
        p99_ms=int(values["p99_us"]) / 1000,
        errors=int(values["errors"]) + int(values["status_errors"]),
    )


def run_requests(url: str, body: bytes, *, connections: int, requests: int) -> Load:
    """POST ``body`` to ``url`` ``requests`` times over ``connections`` connections."""

    async def drive() -> Load:
        latencies: list[float] = []
        errors = 0
        pending = iter(range(requests))
        limits = httpx.Limits(max_connections=connections)
        async with httpx.AsyncClient(limits=limits, timeout=10) as client:

            async def connection() -> None:
                nonlocal errors
                for _ in pending:
                    start = perf_counter()
                    try:
                        reply = await client.post(
                            url, content=body, headers={"Content-Type": "application/json"})
                        errors += reply.status_code >= 300
                    except httpx.HTTPError:
                        errors += 1
                    latencies.append(perf_counter() - start)

            start = perf_counter()
            await asyncio.gather(*(connection() for _ in range(connections)))
            seconds = perf_counter() - start
        latencies.sort()
        return Load(requests=requests, seconds=seconds, errors=errors,
                    p50_ms=latencies[len(latencies) // 2] * 1000,
                    p99_ms=latencies[min(len(latencies) - 1, len(latencies) * 99 // 100)] * 1000)

    return asyncio.run(drive())
