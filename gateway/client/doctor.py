"""``gateway doctor``: a live set-up checked end to end, one pass/fail line per step.

Each failure is reported with the gateway's own ``detail``, which already says
what to do ("start it with `ollama serve`"); a provider that fails a step skips
the steps that need it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import msgspec
from rich.console import Console
from rich.markup import escape

from .connection import FAILED, ClientError, Gateway
from .output import print_json

PROMPT = "Reply with one short sentence: are you there?"


class Check(msgspec.Struct):
    name: str
    result: str  # "pass", "fail" or "skip"
    detail: str


class Report(msgspec.Struct):
    ok: bool
    url: str
    checks: list[Check]


_STYLES = {"pass": "green", "fail": "bold red", "skip": "dim"}


class _Doctor:
    def __init__(self, gateway: Gateway, out: Console | None) -> None:
        self.gateway = gateway
        self.out = out
        self.checks: list[Check] = []

    def record(self, name: str, result: str, detail: str) -> str:
        self.checks.append(Check(name, result, detail))
        if self.out is not None:
            self.out.print(f"[{_STYLES[result]}]{result}[/]  {escape(name)}: {escape(detail)}")
        return result

    def attempt(self, name: str, step: Callable[[], str]) -> str:
        """Run ``step``, which returns what it found or raises; record and return the result."""
        try:
            found = step()
        except ClientError as exc:
            return self.record(name, "fail", exc.message)
        except _NotApplicable as exc:
            return self.record(name, "skip", str(exc))
        return self.record(name, "pass", found)


def doctor(args: argparse.Namespace, gateway: Gateway, out: Console) -> int:
    doc = _Doctor(gateway, None if args.json else out)
    _examine(doc, args.pull)
    ok = all(c.result != "fail" for c in doc.checks)
    if args.json:
        print_json(Report(ok=ok, url=gateway.url, checks=doc.checks))
    return 0 if ok else FAILED


def _examine(doc: _Doctor, model: str | None) -> None:
    gateway = doc.gateway
    if doc.attempt("gateway", lambda: _health(gateway)) != "pass":
        return
    try:
        listed = [p for p in gateway.request("GET", "/api/providers")["providers"] if p["enabled"]]
    except ClientError as exc:
        doc.record("providers enabled", "fail", exc.message)
        return
    if not listed:
        doc.record("providers enabled", "fail", "no provider is enabled; set `enabled = true` "
                   "in a [providers.<id>] table of the gateway's config")
        return
    doc.record("providers enabled", "pass", ", ".join(p["id"] for p in listed))
    for info in listed:
        _examine_provider(doc, info, model)


def _health(gateway: Gateway) -> str:
    gateway.request("GET", "/health")
    return f"answers at {gateway.url}"


def _examine_provider(doc: _Doctor, info: dict[str, Any], model: str | None) -> None:
    gateway, pid = doc.gateway, info["id"]
    results: dict[str, str] = {}
    pull_step = f"pull {model}"

    def chat() -> str:
        # The model just pulled is the one to try, when there is one.
        return _chat(gateway, pid, model if results.get(pull_step) == "pass" else None)

    steps = [("reachable", lambda: _reachable(gateway, info)),
             ("models listed", lambda: _models(gateway, pid)),
             *([(pull_step, lambda: _pull(gateway, pid, model))] if model else []),
             ("chat", chat)]
    for index, (step, run) in enumerate(steps):
        results[step] = doc.attempt(f"{pid}: {step}", run)
        if results[step] == "fail":
            for later, _ in steps[index + 1:]:
                doc.record(f"{pid}: {later}", "skip", f"needs {pid}: {step}")
            return


class _NotApplicable(Exception):
    """A step that does not apply to this provider."""


def _no_model_routes(exc: ClientError) -> bool:
    # No plugin offers model routes (404), or this provider's type has none.
    return exc.status == 404 and exc.kind == "not_found" or exc.kind == "unknown_provider"


def _reachable(gateway: Gateway, info: dict[str, Any]) -> str:
    try:
        info = gateway.request("POST", f"/api/providers/{quote(info['id'])}/check")
    except ClientError as exc:
        # Running the check needs an admin key; with a user key the
        # background check's last result is what there is.
        if exc.status != 403:
            raise
    if info["status"] != "connected":
        raise ClientError(info.get("error") or f"status is {info['status']}")
    return f"{info['status']} to {info['base_url']}"


def _models(gateway: Gateway, pid: str) -> str:
    try:
        reply = gateway.request("GET", f"/api/providers/{quote(pid)}/models")
        names = [m["name"] for m in reply["models"]]
    except ClientError as exc:
        if not _no_model_routes(exc):
            raise
        prefix = f"{pid}/"
        names = [m["id"].removeprefix(prefix)
                 for m in gateway.request("GET", "/v1/models")["data"] or []
                 if m["id"].startswith(prefix)]
        if not names:
            # /v1/models leaves out a provider whose list failed.
            raise ClientError(f"/v1/models lists no model of {pid}; check its base_url and "
                              "api_key with `gateway providers`") from None
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return f"{len(names)} model{'s' if len(names) != 1 else ''}" + (f" ({shown})" if names else "")


def _pull(gateway: Gateway, pid: str, model: str) -> str:
    try:
        reply = gateway.request("POST", f"/api/providers/{quote(pid)}/pull", {"model": model})
    except ClientError as exc:
        if _no_model_routes(exc):
            raise _NotApplicable(f"{pid} does not manage its models through the gateway") from None
        raise
    return reply["message"]


def _chat(gateway: Gateway, pid: str, model: str | None) -> str:
    body = {"message": PROMPT, "provider": pid, **({"model": model} if model else {})}
    reply = gateway.request("POST", "/api/chat", body)
    if reply["provider"] != pid:
        raise ClientError(f"{pid} failed and its fallback {reply['provider']} answered instead; "
                          f"`gateway providers` shows what is wrong with {pid}")
    text = " ".join(reply["response"].split())
    if not text:
        raise ClientError(f"{reply['model']} answered with nothing")
    return f"{reply['model']} answered {text[:60]!r}" + ("..." if len(text) > 60 else "")
