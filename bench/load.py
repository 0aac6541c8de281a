"""The load driver: wrk (C, epoll) with ``post.lua``, far faster than any server measured here."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

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
