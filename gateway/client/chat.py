"""``gateway chat``: one prompt, or a conversation, streamed from ``POST /api/chat``."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

import msgspec
from rich.console import Console
from rich.text import Text

from .connection import INTERRUPTED, ClientError, Gateway
from .output import console


def chat(args: argparse.Namespace, gateway: Gateway, out: Console) -> int:
    # Usage goes to stderr, so that stdout holds the reply alone.
    err = console(stderr=True)
    if args.prompt is not None:
        try:
            ask(gateway, out, err, _request(args, args.prompt, []))
        except KeyboardInterrupt:
            raise ClientError("chat stopped", INTERRUPTED) from None
        return 0
    return _converse(args, gateway, out, err)


def _converse(args: argparse.Namespace, gateway: Gateway, out: Console, err: Console) -> int:
    """Prompt after prompt, each sent with the conversation so far, until Ctrl-D or ``exit``."""
    history: list[dict[str, str]] = []
    err.print("Chatting with the gateway; Ctrl-D or `exit` ends it.", markup=False)
    while True:
        try:
            prompt = out.input("[bold]you>[/] ").strip()
        except EOFError:
            out.print()
            return 0
        except KeyboardInterrupt:
            out.print()
            return INTERRUPTED
        if prompt in ("exit", "quit"):
            return 0
        if not prompt:
            continue
        try:
            reply = ask(gateway, out, err, _request(args, prompt, history))
        except ClientError as exc:
            # A failed turn is left out of the history; the conversation goes on.
            err.print(f"gateway: {exc.message}", markup=False)
            continue
        except KeyboardInterrupt:
            out.print()
            return INTERRUPTED
        history += [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}]


def _request(args: argparse.Namespace, prompt: str, history: list[dict[str, str]]) -> dict[str, Any]:
    body: dict[str, Any] = {"message": prompt, "provider": args.provider, "stream": True,
                            "history": history}
    if args.model:
        body["model"] = args.model
    if args.system:
        body["system_prompt"] = args.system
    return body


def ask(gateway: Gateway, out: Console, err: Console, body: dict[str, Any]) -> str:
    """Stream one reply to ``out`` as it arrives, then its usage to ``err``; return the reply."""
    with gateway.stream("POST", "/api/chat", body) as lines:
        for event, data in _events(lines):
            if event == "message":
                out.out(data["content"], end="")
            elif event == "error":
                out.print()
                raise ClientError(data["detail"])
            elif event == "done":
                out.print()
                err.print(Text(usage_line(data), style="dim"))
                return data["response"]
    raise ClientError("the gateway's reply ended before the chat was done")


def usage_line(reply: dict[str, Any]) -> str:
    usage = reply["usage"]
    line = (f"{reply['provider']}/{reply['model']}: tokens {usage['prompt_tokens']} in, "
            f"{usage['completion_tokens']} out, {usage['total_tokens']} total")
    return line + (" (estimated)" if usage.get("estimated") else "")


def _events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    """Server-sent events as (name, decoded data); unnamed events are ``message``."""
    event, data = "message", []
    for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif not line and data:
            try:
                yield event, msgspec.json.decode("\n".join(data))
            except msgspec.DecodeError:
                raise ClientError("the gateway sent a chat event that is not JSON") from None
            event, data = "message", []
