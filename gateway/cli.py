"""The ``gateway`` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from .client import add_commands
from .client.connection import INTERRUPTED, ClientError
from .config import ConfigError, config_path, load_config

# uvloop and httptools are uvicorn's fastest loop and parser. Its access log
# is off: the gateway writes its own, with more in it (uvicorn's cost about
# 60 us of CPU per chat in `make bench`).
SERVER_OPTIONS = {"loop": "uvloop", "http": "httptools", "access_log": False}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway", description="An LLM provider gateway.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", help="config file (default: $GATEWAY_CONFIG or ./config.toml)")
    serve.add_argument("--host", help="address to bind (default: [server] host)")
    serve.add_argument("--port", type=_number(1, 65535),
                       help="port to bind (default: [server] port)")
    serve.add_argument("--workers", type=_number(1),
                       help="worker processes (default: [server] workers)")
    serve.set_defaults(run=_serve)

    plugins = commands.add_parser("plugins", help="list the discovered plugins")
    plugins.add_argument("--config", help="config file (default: $GATEWAY_CONFIG or ./config.toml)")
    plugins.set_defaults(run=_plugins)

    add_commands(commands)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ConfigError as exc:
        print(f"gateway: config error: {exc}", file=sys.stderr)
        return 2
    except ClientError as exc:
        print(f"gateway: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("gateway: interrupted", file=sys.stderr)
        return INTERRUPTED


def _number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` (to ``high``)."""
    def number(text: str) -> int:
        if text.isdigit() and low <= int(text) and (high is None or int(text) <= high):
            return int(text)
        limits = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number {limits}")

    return number


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app, settle_memory
    from .auth import check_bind
    from .observability.logs import uvicorn_log_config
    from .observability.metrics import multiprocess_dir

    path = config_path(args.config).resolve()
    config = load_config(path)
    # Building the app once here validates plugins and providers, so a bad
    # config stops with one line instead of a traceback per worker.
    app = create_app(path)
    host = args.host or config.server.host
    port = args.port if args.port is not None else config.server.port
    workers = args.workers or config.server.workers
    check_bind(config, app.state.api_keys, host)
    settle_memory()
    # After SIGTERM, requests still running get shutdown_grace before they are cut.
    options = dict(host=host, port=port, **SERVER_OPTIONS,
                   log_config=uvicorn_log_config(config.logging),
                   timeout_graceful_shutdown=config.server.shutdown_grace)
    if workers > 1:
        # Each worker is a process that builds its own app from the same
        # file; their metrics meet in files that /metrics adds up.
        os.environ["GATEWAY_CONFIG"] = str(path)
        with multiprocess_dir():
            uvicorn.run("gateway.app:app_from_env", factory=True, workers=workers, **options)
    else:
        uvicorn.run(app, **options)
    return 0


def _plugins(args: argparse.Namespace) -> int:
    from .plugins import PluginHost

    # The table shows each plugin's error; the log lines the host writes
    # for `gateway serve` would repeat it with a traceback.
    logging.getLogger("gateway").addHandler(logging.NullHandler())
    host = PluginHost(load_config(config_path(args.config)))
    for p in host.plugins:
        state = "error" if p.error else ("enabled" if p.enabled else "disabled")
        version = p.version or "-"
        line = f"{p.name:<16} {version:<10} {p.source:<11} {state:<9} {p.location}"
        print(line + (f"\n    {p.error}" if p.error else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
