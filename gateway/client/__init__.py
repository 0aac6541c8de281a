"""The ``gateway`` commands that talk to a running gateway over HTTP.

They reach it at ``--url``, or at the ``[server]`` address of the config file,
and send ``$GATEWAY_API_KEY`` when it is set. Every failure is one line on
stderr (see :class:`~gateway.client.connection.ClientError`), never a traceback.
"""

from __future__ import annotations

import argparse
from typing import Any

from . import chat, doctor, listings, pull
from .connection import Gateway, gateway_url
from .output import console


def add_commands(commands: Any) -> None:
    """Add the client commands to the ``gateway`` command's subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="the gateway's address (default: from the config file's "
                        "[server] host and port, else http://127.0.0.1:8002)")
    common.add_argument("--config", help="config file to read the address from "
                        "(default: $GATEWAY_CONFIG or ./config.toml)")
    listing = argparse.ArgumentParser(add_help=False)
    listing.add_argument("--json", action="store_true", help="print JSON only, for scripts")
    model_of = argparse.ArgumentParser(add_help=False)
    model_of.add_argument("model", metavar="MODEL")
    model_of.add_argument("--provider", default="ollama",
                          help="the Ollama provider's id (default: ollama)")

    def add(name: str, run: Any, help: str, *parents: argparse.ArgumentParser
            ) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help, parents=[common, *parents])
        parser.set_defaults(run=lambda args: _run(run, args))
        return parser

    add("providers", listings.providers, "the providers and their status", listing)
    models = add("models", listings.models, "the models a provider has installed", listing)
    models.add_argument("provider", nargs="?", default="ollama", metavar="PROVIDER",
                        help="an Ollama provider's id (default: ollama)")
    add("pull", pull.pull, "download a model, with a progress bar per layer", model_of)
    add("rm", listings.rm, "delete an installed model", model_of)
    add("show", listings.show, "one installed model's details", model_of, listing)
    talk = add("chat", chat.chat, "chat with a provider; without a prompt, a conversation")
    talk.add_argument("prompt", nargs="?", metavar="PROMPT")
    talk.add_argument("--provider", default="ollama", help="provider id (default: ollama)")
    talk.add_argument("--model", help="model (default: the provider's)")
    talk.add_argument("--system", help="system prompt")
    check = add("doctor", doctor.doctor, "check a live set-up end to end", listing)
    check.add_argument("--pull", metavar="MODEL", help="also pull MODEL and chat with it")


def _run(command: Any, args: argparse.Namespace) -> int:
    with Gateway(gateway_url(args.url, args.config)) as gateway:
        return command(args, gateway, console())
