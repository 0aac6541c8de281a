"""Starting the benchmark's servers as processes, each pinned to its CPUs."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``python -m <args> --port <free port>`` as a process pinned to ``cpus``."""

    def __init__(self, name: str, args: list[str], ready_path: str,
                 cpus: set[int] | None, log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.argv = [sys.executable, "-m", *args, "--port", str(self.port)]
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready_path = ready_path
        self.cpus = cpus
        self.log = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 30) -> Server:
        """Start the process and wait until it answers ``GET ready_path``."""
        cpus = self.cpus
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
            )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.name} did not start:\n{tail}")
            time.sleep(0.1)
        return self

    def _answers(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", self.ready_path)
            return conn.getresponse().status < 500
        except OSError:
            return False
        finally:
            conn.close()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
