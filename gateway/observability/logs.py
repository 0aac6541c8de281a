"""Log output: one JSON object (or one readable line) per record, and the
access log line written for every request.

Everything the gateway logs goes through the ``gateway`` logger, save the
access line, which is written straight to that logger's stream in the same
format (see :class:`_AccessOutput`); ``gateway serve`` points uvicorn's own
loggers at the same format, so a log shipper reads one format.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any, BinaryIO, TextIO

import msgspec
from msgspec import UNSET, UnsetType

from ..config import LoggingConfig
from ..types import Message
from .context import RequestRecord, current_request_id

ACCESS_LOGGER = "gateway.access"
_HANDLER_NAME = "gateway"
_encode = msgspec.json.Encoder().encode


_second: tuple[int, str] = (-1, "")


def _timestamp(created: float) -> str:
    """``created`` (:func:`time.time` seconds) in ISO 8601, UTC, to the millisecond."""
    global _second
    # Formatting a datetime was a fifth of the access line's cost; the part
    # up to the second changes once a second.
    second, millis = divmod(int(created * 1000), 1000)
    if _second[0] != second:
        _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{_second[1]}.{millis:03d}+00:00"


# A value left bare in the text format; anything else is written as a JSON
# string, so that a client's path or model name cannot end the line and
# forge the next one, or blur where one value ends.
_BARE = re.compile(r'[^\s"=\\\x00-\x1f\x7f-\x9f]+')
# C0 and C1 controls and Unicode's line and paragraph separators: each can
# end a line for some reader (Python's splitlines() splits at all of them).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Those that JSON leaves as they are inside a string.
_UNESCAPED = re.compile(r"[\x7f-\x9f\u2028\u2029]")


def _escaped(char: re.Match[str]) -> str:
    code = ord(char[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _json_escaped(char: re.Match[str]) -> str:
    return f"\\u{ord(char[0]):04x}"


def _text_value(value: Any) -> str:
    if isinstance(value, str) and _BARE.fullmatch(value):
        return value
    return _UNESCAPED.sub(_json_escaped, _encode(value).decode())


def _text_line(stamp: str, level: str, logger: str, fields: dict[str, Any]) -> str:
    message = _CONTROL.sub(_escaped, fields.pop("message", ""))
    pairs = " ".join(f"{k}={_text_value(v)}" for k, v in fields.items())
    return f"{stamp} {level} {logger} {message} {pairs}".rstrip()


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    request_id = current_request_id()
    if request_id is not None:
        return {"message": record.getMessage(), "request_id": request_id}
    return {"message": record.getMessage()}


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message"}``, and ``request_id`` inside
    a request."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return _encode({"time": _timestamp(record.created), "level": record.levelname.lower(),
                        "logger": record.name, **fields}).decode()


class TextFormatter(logging.Formatter):
    """``time LEVEL logger message key=value ...``"""

    def format(self, record: logging.LogRecord) -> str:
        line = _text_line(_timestamp(record.created), record.levelname, record.name,
                          _fields(record))
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _formatter(config: LoggingConfig) -> type[logging.Formatter]:
    return JsonFormatter if config.format == "json" else TextFormatter


class _AccessLine(msgspec.Struct):
    """An access line's fields in the order they are written; those left
    unset are left out. A struct encodes in half the time of a dict."""

    time: str
    level: str
    logger: str
    message: str
    request_id: str
    method: str
    path: str
    route: str
    status: int
    provider: str | None
    model: str | None
    duration_ms: float
    upstream_ms: float | None
    first_chunk_ms: float | UnsetType = UNSET
    tokens_in: int | UnsetType = UNSET
    tokens_out: int | UnsetType = UNSET
    tokens_estimated: bool | UnsetType = UNSET
    error: str | UnsetType = UNSET
    client: str | None = None
    messages: list[Message] | UnsetType = UNSET
    reply: str | UnsetType = UNSET


class _AccessOutput:
    """Where access lines go: the gateway handler's stream, in its format.

    The line is written to the stream, not logged: a record, the handler's
    lock and a formatter cost a chat more than all its Prometheus updates,
    for the one line every request writes. A JSON line goes to the stream's
    bytes as msgspec encoded it, not decoded to be encoded again.
    """

    __slots__ = ("stream", "text", "_bytes")

    def __init__(self, stream: TextIO, text: bool) -> None:
        self.stream = stream
        self.text = text
        self._bytes: BinaryIO | None = None if text else getattr(stream, "buffer", None)

    def write(self, line: _AccessLine) -> None:
        try:
            if self._bytes is not None:
                self.stream.flush()  # what was written as text goes first
                self._bytes.write(_encode(line) + b"\n")
                self._bytes.flush()
                return
            if self.text:
                fields = {name: value for name in _AccessLine.__struct_fields__[3:]
                          if (value := getattr(line, name)) is not UNSET}
                text = _text_line(line.time, "INFO", line.logger, fields)
            else:
                text = _encode(line).decode()
            self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            # stderr closed, or its reader gone: the request must not fail
            # for its log line, and there is nowhere left to say so.
            pass


# Replaced by configure_logging, which every app runs before it serves a request.
_access = _AccessOutput(sys.stderr, text=False)


def configure_logging(config: LoggingConfig) -> None:
    """Send the ``gateway`` loggers to stderr in the configured format and level.

    Replaces what an earlier call set up, so building a second app in the
    same process does not double every line.
    """
    global _access
    logger = logging.getLogger("gateway")
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(_formatter(config)())
    logger.addHandler(handler)
    logger.setLevel(config.level.upper())
    _access = _AccessOutput(handler.stream, text=config.format == "text")


def uvicorn_log_config(config: LoggingConfig) -> dict[str, Any]:
    """uvicorn's ``log_config``: its own messages in the gateway's format."""
    formatter = _formatter(config)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"gateway": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "gateway",
                                "stream": "ext://sys.stderr"}},
        "loggers": {"uvicorn": {"handlers": ["stderr"], "level": config.level.upper(),
                                "propagate": False}},
    }


access_log = logging.getLogger(ACCESS_LOGGER)


def log_access(scope: Any, path: str, route: str, status: int, seconds: float,
               record: RequestRecord, bodies: bool) -> None:
    """Write the request's access line; call only when INFO is enabled."""
    call, response = record.call, record.response
    client = scope.get("client")
    method = scope["method"]
    upstream = record.upstream_seconds
    line = _AccessLine(
        _timestamp(time.time()), "info", ACCESS_LOGGER, f"{method} {path} {status}",
        record.request_id, method, path, route, status,
        call.provider.id if call is not None else None,
        call.request.model if call is not None else None,
        round(seconds * 1000, 3),
        round(upstream * 1000, 3) if upstream is not None else None,
        client=client[0] if client else None,
    )
    if record.first_chunk_at is not None:
        line.first_chunk_ms = round((record.first_chunk_at - record.started) * 1000, 3)
    usage = response.usage if response is not None else None
    if usage is not None:
        line.tokens_in = usage.prompt_tokens
        line.tokens_out = usage.completion_tokens
        line.tokens_estimated = usage.estimated
    if record.upstream_errors:
        line.error = record.upstream_errors[-1][1]
    if bodies and call is not None:
        line.messages = call.request.messages
        if response is not None:
            line.reply = response.text
    _access.write(line)
