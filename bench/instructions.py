"""``make instructions``: what one chat costs in CPU instructions, counted by valgrind.

Wall-clock figures on a shared machine move with the neighbours' load;
instruction counts do not, so they tell whether a change made the gateway's
own work smaller. Each target's ASGI app is built in a process of its own
and driven in-process (no HTTP server: uvicorn costs the same for every
target) against the bench's mock upstream over loopback, 64 chats at a time,
under ``valgrind --tool=cachegrind``: once for a short and once for a long
batch, so that the difference, divided by the difference in chats, is what
one chat takes, start-up left out.

    python -m bench.instructions [--chats 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .run import API_CHAT_BODY, OPENAI_BODY, RESULTS, V1_BODY, write_config
from .servers import ROOT, Server

CONCURRENCY = 64
# Chats in the short batch; it also warms up every code path.
BASE_CHATS = 200
# How much slower the code runs under valgrind, at most (see _as_at_full_speed).
VALGRIND_SLOWDOWN = 50
TARGETS: dict[str, tuple[str, dict[str, Any]]] = {
    "pass-through": ("/", OPENAI_BODY),
    "gateway /api/chat": ("/api/chat", API_CHAT_BODY),
    "gateway /v1": ("/v1/chat/completions", V1_BODY),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.instructions", description=__doc__.split("\n")[0])
    parser.add_argument("--chats", type=int, default=2000,
                        help="chats counted per target, beyond the short batch")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    parser.add_argument("--child", nargs=3, metavar=("TARGET", "MOCK_URL", "CHATS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        target, mock_url, chats = args.child
        _as_at_full_speed()
        answered = asyncio.run(chat_loop(target, mock_url, int(chats), as_served=True))
        if answered != int(chats):
            print(f"bench: {target}: {answered} of {chats} chats answered 200", file=sys.stderr)
            return 1
        return 0
    if shutil.which("valgrind") is None:
        print("bench: valgrind is not installed (Debian/Ubuntu: apt-get install valgrind)",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        mock = Server("mock", ["bench.mock_upstream"], "/v1/models", None, Path(tmp)).start()
        try:
            counts = {name: per_chat(name, mock.url, args.chats) for name in TARGETS}
        finally:
            mock.stop()
    text = render(counts, args.chats)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.out / f"{stamp}-instructions.txt").write_text(text + "\n")
    print(f"\nwritten: {args.out / stamp}-instructions.txt", file=sys.stderr)
    return 0


def _as_at_full_speed() -> None:
    # Valgrind runs the code some 30 to 50 times slower: each of the 64 chats
    # in flight would take a second or more instead of some 30 ms, and all of
    # them would outlast the delay before the gateway listens for a hang-up,
    # which none does at full speed. Scaled alike, the same chats get a
    # listener as when served at full speed.
    from gateway import cancellation

    cancellation.LISTEN_AFTER *= VALGRIND_SLOWDOWN


def per_chat(target: str, mock_url: str, chats: int) -> int:
    short = _instructions(target, mock_url, BASE_CHATS)
    long = _instructions(target, mock_url, BASE_CHATS + chats)
    count = (long - short) // chats
    print(f"bench: {target:<18} {count:>9,} instructions per chat", file=sys.stderr)
    return count


def _instructions(target: str, mock_url: str, chats: int) -> int:
    result = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, "-m", "bench.instructions", "--child", target, mock_url, str(chats)],
        cwd=ROOT, capture_output=True, text=True)
    found = re.search(r"I\s+refs:\s+([\d,]+)", result.stderr)
    if result.returncode != 0 or found is None:
        raise RuntimeError(f"counting {target} failed:\n{result.stderr[-2000:]}")
    return int(found[1].replace(",", ""))


def render(counts: dict[str, int], chats: int) -> str:
    proxy = counts["pass-through"]
    lines = [f"instructions per plain chat, {chats:,} chats at c={CONCURRENCY}, in-process "
             "(no HTTP server), valgrind's count",
             f"  {'target':<18} {'per chat':>11} {'xproxy':>7} {'beyond proxy':>13}"]
    for name, count in counts.items():
        lines.append(f"  {name:<18} {count:>11,} {count / proxy:>7.2f} {count - proxy:>13,}")
    return "\n".join(lines)


async def chat_loop(target: str, mock_url: str, chats: int, as_served: bool = False) -> int:
    """Drive ``chats`` plain chats through ``target``'s app; the number answered 200.

    ``as_served`` freezes the gateway's start-up objects out of the garbage
    collector, as ``gateway serve`` does (and a test process should not).
    """
    path, body = TARGETS[target]
    app = _app(target, mock_url, as_served)
    async with _running(app):
        answered = 0
        pending = iter(range(chats))
        encoded = json.dumps(body).encode()

        async def worker() -> None:
            nonlocal answered
            for _ in pending:
                status = await _chat(app, path, encoded)
                answered += status == 200

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return answered


def _app(target: str, mock_url: str, as_served: bool) -> Any:
    if target == "pass-through":
        from .passthrough import create_app as create_proxy

        return create_proxy(f"{mock_url}/v1")
    from gateway.app import create_app, settle_memory

    config = write_config(Path(tempfile.mkdtemp()) / "gateway.toml", mock_url, mock_url)
    app = create_app(config)
    if as_served:
        settle_memory()
    return app


class _running:
    """The app's lifespan, started and stopped as an ASGI server would."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict] = asyncio.Queue()

    async def __aenter__(self) -> None:
        self.task = asyncio.create_task(self.app(
            {"type": "lifespan", "asgi": {"version": "3.0"}}, self.inbox.get, self.outbox.put))
        await self.inbox.put({"type": "lifespan.startup"})
        await self.outbox.get()

    async def __aexit__(self, *exc: object) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.outbox.get()
        await self.task


async def _chat(app: Any, path: str, body: bytes) -> int:
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
             "http_version": "1.1", "method": "POST", "scheme": "http", "root_path": "",
             "path": path, "raw_path": path.encode(), "query_string": b"",
             "server": ("127.0.0.1", 8002), "client": ("127.0.0.1", 50000),
             "headers": [(b"host", b"127.0.0.1:8002"), (b"content-type", b"application/json"),
                         (b"content-length", b"%d" % len(body))]}
    done = asyncio.Event()
    received = False
    status = 0

    async def receive() -> dict:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()  # as a server does: after the body, only the end
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif not message.get("more_body"):
            done.set()

    await app(scope, receive, send)
    return status


if __name__ == "__main__":
    sys.exit(main())
