"""Where the client commands write: rich consoles for people, bare JSON for scripts."""

from __future__ import annotations

import os
import sys
from typing import Any

import msgspec
from rich.console import Console


def console(*, stderr: bool = False) -> Console:
    out = Console(stderr=stderr, highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        # Piped or redirected: no screen to fit, so table rows stay one line each.
        out.width = 1000
    return out


def print_json(data: Any) -> int:
    """Write ``data`` as indented JSON on stdout; the exit code of a listing that worked."""
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(data), indent=2).decode() + "\n")
    return 0
