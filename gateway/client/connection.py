"""Talking to a running gateway: where it is, its API key, and its errors in one line."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec

from ..config import DEFAULT_PATH, ServerConfig, config_path, load_config

KEY_ENV = "GATEWAY_API_KEY"

# Exit codes of the client commands.
FAILED = 1  # the gateway or a provider reported an error, or a check failed
USAGE = 2  # a bad command line, as argparse exits
UNREACHABLE = 3  # no gateway answered at the URL
INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


class ClientError(Exception):
    """A failure to report as one line on stderr, with the exit code to leave with."""

    def __init__(self, message: str, exit_code: int = FAILED, *, status: int | None = None,
                 kind: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        # The gateway's HTTP status and error ``kind``, when it answered with an error.
        self.status = status
        self.kind = kind


def gateway_url(url: str | None, config: str | None) -> str:
    """``--url``, else the ``[server]`` address of the config file, else the default one."""
    if url:
        return url.rstrip("/")
    named = config or os.environ.get("GATEWAY_CONFIG")
    if named or Path(DEFAULT_PATH).exists():
        server = load_config(config_path(config)).server
    else:
        server = ServerConfig()
    return f"http://{_connectable(server.host)}:{server.port}"


def _connectable(host: str) -> str:
    """The address to call for a server bound to ``host``."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host
    if address.is_unspecified:
        # Bound to every interface: loopback is one of them.
        return "[::1]" if address.version == 6 else "127.0.0.1"
    return f"[{address}]" if address.version == 6 else str(address)


class Gateway:
    """A client of one running gateway; every failure becomes a :class:`ClientError`."""

    def __init__(self, url: str) -> None:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ClientError(f"--url {url!r} is not a URL: {exc}", USAGE) from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ClientError(f"--url {url!r} is not an http:// or https:// URL", USAGE)
        self.url = url
        key = os.environ.get(KEY_ENV, "").strip()
        self._has_key = bool(key)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        # No read timeout: the gateway bounds every wait on a provider with
        # its own timeouts and answers 504 saying which one to raise, while
        # pulls and model loads legitimately take minutes.
        self._client = httpx.Client(base_url=url, headers=headers,
                                    timeout=httpx.Timeout(None, connect=5.0))

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._client.close()

    def request(self, method: str, path: str, json: Any = None) -> Any:
        """The decoded JSON reply of a request that succeeded."""
        with self._exchange():
            response = self._client.request(method, path, json=json)
        self._raise_for_status(response)
        return _decode(response)

    @contextmanager
    def stream(self, method: str, path: str, json: Any = None) -> Iterator[Iterator[str]]:
        """The reply's lines as they arrive; leaving the block hangs up on the gateway."""
        with self._exchange():
            with self._client.stream(method, path, json=json) as response:
                if response.status_code >= 400:
                    response.read()
                    self._raise_for_status(response)
                yield response.iter_lines()

    @contextmanager
    def _exchange(self) -> Iterator[None]:
        try:
            yield
        except httpx.ConnectError:
            raise ClientError(
                f"cannot reach the gateway at {self.url} — is it running? "
                "start it with `make run`", UNREACHABLE) from None
        except httpx.TimeoutException:
            raise ClientError(f"the gateway at {self.url} did not accept a connection "
                              "within 5 s", UNREACHABLE) from None
        except httpx.HTTPError as exc:
            raise ClientError(f"the connection to the gateway at {self.url} broke off "
                              f"({type(exc).__name__})") from None

    def _raise_for_status(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        message, kind = _error_detail(response)
        if response.status_code == 401:
            message += (f" {KEY_ENV} holds a key the gateway does not know." if self._has_key
                        else f" Set {KEY_ENV} to one of the gateway's keys.")
        elif response.status_code == 403:
            message += f" Set {KEY_ENV} to an admin key."
        raise ClientError(message, status=response.status_code, kind=kind)


def _error_detail(response: httpx.Response) -> tuple[str, str]:
    """What the gateway said went wrong and its error ``kind``, from either error shape."""
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        body = None
    if isinstance(body, dict):
        if isinstance(body.get("detail"), str):
            return body["detail"], str(body.get("error", ""))
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"], str(error.get("code", ""))
    text = " ".join(response.text.split())[:200] or response.reason_phrase
    return f"the gateway at {response.url} answered HTTP {response.status_code}: {text}", ""


def _decode(response: httpx.Response) -> Any:
    try:
        return msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        raise ClientError(f"the gateway at {response.url} sent a reply that is not JSON; "
                          "is something else listening at that address?") from None
