"""``gateway providers``, ``models``, ``show`` and ``rm``: what the gateway and its providers hold."""

from __future__ import annotations

import argparse
from datetime import datetime
from urllib.parse import quote

from rich.console import Console
from rich.filesize import decimal
from rich.table import Table
from rich.text import Text

from .connection import USAGE, ClientError, Gateway
from .output import print_json


_STATUS_STYLES = {"connected": "green", "disconnected": "red", "error": "red", "disabled": "dim"}


def providers(args: argparse.Namespace, gateway: Gateway, out: Console) -> int:
    reply = gateway.request("GET", "/api/providers")
    if args.json:
        return print_json(reply)
    table = _table("ID", "TYPE", "NAME", "ENABLED", "STATUS", "MODEL", "ERROR")
    for p in reply["providers"]:
        table.add_row(*map(Text, (p["id"], p["type"], p["name"], "yes" if p["enabled"] else "no")),
                      Text(p["status"], style=_STATUS_STYLES.get(p["status"], "")),
                      Text(p["model"]), Text(p.get("error", "")))
    out.print(table)
    return 0


def models(args: argparse.Namespace, gateway: Gateway, out: Console) -> int:
    reply = gateway.request("GET", f"/api/providers/{quote(args.provider)}/models")
    if args.json:
        return print_json(reply)
    table = _table("NAME", "SIZE", "FAMILY", "QUANTIZATION", "MODIFIED")
    for m in reply["models"]:
        details = m.get("details", {})
        table.add_row(*map(Text, (m["name"], decimal(m.get("size", 0)), details.get("family", ""),
                                  details.get("quantization_level", ""),
                                  _when(m.get("modified_at", "")))))
    out.print(table)
    return 0


def show(args: argparse.Namespace, gateway: Gateway, out: Console) -> int:
    reply = gateway.request("GET", model_path(args.provider, args.model))
    if args.json:
        return print_json(reply)
    details = reply.get("details", {})
    info = reply.get("model_info", {})
    rows = {
        "name": reply.get("name", args.model),
        "family": details.get("family", ""),
        "parameter size": details.get("parameter_size", ""),
        "quantization": details.get("quantization_level", ""),
        "format": details.get("format", ""),
        "context length": str(info.get(f"{info.get('general.architecture')}.context_length", "")),
        "capabilities": ", ".join(reply.get("capabilities", [])),
        "license": (reply.get("license", "").strip().splitlines() or [""])[0],
        "modified": _when(reply.get("modified_at", "")),
    }
    table = Table.grid(padding=(0, 2))
    for label, value in rows.items():
        if value:
            table.add_row(Text(label, style="bold"), Text(value))
    out.print(table)
    return 0


def rm(args: argparse.Namespace, gateway: Gateway, out: Console) -> int:
    reply = gateway.request("DELETE", model_path(args.provider, args.model))
    out.print(reply["message"], markup=False)
    return 0


def model_path(provider: str, model: str) -> str:
    if not model.strip():
        raise ClientError("MODEL is required, e.g. llama3.2:1b", USAGE)
    # Model names hold ':' and '/', which the route takes as they are; a
    # "." or ".." part is encoded, or the URL would be resolved around it.
    parts = [quote(part, safe=":") if part.strip(".") else part.replace(".", "%2E")
             for part in model.split("/")]
    return f"/api/providers/{quote(provider)}/models/{'/'.join(parts)}"


def _table(*columns: str) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in columns:
        # Names and errors must stay whole, to be copied or grepped.
        table.add_column(column, overflow="fold")
    return table


def _when(timestamp: str) -> str:
    try:
        return datetime.fromisoformat(timestamp).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return timestamp
