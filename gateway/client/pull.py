"""``gateway pull``: a model download followed line by line, a progress bar per layer."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol
from urllib.parse import quote

import msgspec
from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from .connection import INTERRUPTED, ClientError, Gateway


class Line(msgspec.Struct, kw_only=True):
    """One NDJSON line of a streamed pull: Ollama's progress, or the gateway's last word."""

    status: str = ""
    digest: str | None = None
    total: int | None = None
    completed: int | None = None
    success: bool | None = None
    message: str = ""
    detail: str = ""


_decode = msgspec.json.Decoder(Line).decode


class View(Protocol):
    def status(self, text: str) -> None: ...

    def layer(self, digest: str, label: str, completed: int, total: int) -> None: ...


def pull(args: argparse.Namespace, gateway: Gateway, out: Console) -> int:
    path = f"/api/providers/{quote(args.provider)}/pull"
    try:
        with gateway.stream("POST", path, {"model": args.model, "stream": True}) as lines, \
                _view(out) as view:
            last = _follow(lines, view)
    except KeyboardInterrupt:
        # Leaving the stream hung up on the gateway, which stops the pull upstream.
        raise ClientError(f"pull of {args.model!r} stopped; pull again to resume it",
                          INTERRUPTED) from None
    if last is None:
        raise ClientError(f"the gateway's reply to the pull of {args.model!r} ended without "
                          "a result; pull again to resume it")
    if not last.success:
        raise ClientError(last.detail or f"pulling {args.model!r} failed")
    out.print(last.message, markup=False)
    return 0


def _follow(lines: Iterator[str], view: View) -> Line | None:
    """Show each progress line; return the last line, the one with ``success``."""
    shown = ""
    for raw in lines:
        if not raw.strip():
            continue
        try:
            line = _decode(raw)
        except msgspec.DecodeError:
            raise ClientError(f"the gateway sent a pull progress line it should not: {raw[:200]}")
        if line.success is not None:
            return line
        if line.digest and line.total:
            view.layer(line.digest, line.status, line.completed or 0, line.total)
        elif line.status != shown:
            view.status(line.status)
        shown = line.status
    return None


@contextmanager
def _view(out: Console) -> Iterator[View]:
    if not out.is_interactive:
        yield _Lines(out)
        return
    progress = Progress(TextColumn("{task.description}", markup=False), BarColumn(), TaskProgressColumn(),
                        DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                        console=out)
    with progress:
        yield _Bars(progress)


class _Bars:
    """A live bar per layer, for a terminal; status lines are printed above the bars."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def status(self, text: str) -> None:
        self._progress.console.print(text, markup=False)

    def layer(self, digest: str, label: str, completed: int, total: int) -> None:
        task = self._tasks.get(digest)
        if task is None:
            task = self._tasks[digest] = self._progress.add_task(label, total=total)
        self._progress.update(task, completed=completed, total=total)


class _Lines:
    """For logs and pipes, where a bar cannot be redrawn: a line per tenth of each layer."""

    def __init__(self, out: Console) -> None:
        self._out = out
        self._tenths: dict[str, int] = {}

    def status(self, text: str) -> None:
        self._out.print(text, markup=False)

    def layer(self, digest: str, label: str, completed: int, total: int) -> None:
        tenth = completed * 10 // total
        if self._tenths.get(digest) == tenth:
            return
        self._tenths[digest] = tenth
        self._out.print(f"{label}  {decimal(completed)} of {decimal(total)}  "
                        f"{completed * 100 // total}%", markup=False)
