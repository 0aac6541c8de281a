"""The chat routes at the ASGI level: the JSON body in, the reply out.

Every chat passes through here, so the routes skip the parts of Litestar's
request and response handling that cost the most per request: the handler
signature (a signature model, header parsing to read the body) and the
response objects (``Response`` -> ``ASGIResponse``). Those were a third of
the instructions the gateway added to a plain chat. A chat handler takes
no parameters and returns an ASGI app that reads the body itself, and
:mod:`.fast_path` serves that app without Litestar's routing in between;
the gateway's own wrappers (request id, metrics, access log, hang-ups) see
it like any other request.

Since the body is no handler parameter, :func:`body_schema` documents it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any, TypeVar

import msgspec
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.spec import OpenAPIMediaType, RequestBody
from litestar.types import Receive, Scope, Send

from ..error_handlers import EMPTY_BODY, NOT_JSON
from ..errors import BadRequest
from ..types import SAFE_NAME_PATTERN, SAFE_NAME_RULE

T = TypeVar("T")

_JSON = (b"content-type", b"application/json")
_EVENTS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body; a 413 as soon as it is known to be over ``limit`` bytes."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if value.isdigit() and int(value) > limit:
                raise _too_large()
            break
    message = await receive()
    body = message.get("body", b"")
    while message.get("more_body") and len(body) <= limit:
        message = await receive()
        body += message.get("body", b"")
    if len(body) > limit:
        raise _too_large()
    return body


def _too_large() -> HTTPException:
    # Rendered with the limit in words by the app's handler for 413.
    return HTTPException(status_code=413)


def decode_body(body: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """``body`` decoded; a 400 naming the field when it is not what ``decoder`` expects."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        # msgspec validates as it parses, so a body cut short after a field
        # it refuses reads as a wrong field; the client should hear "not JSON".
        if (broken := _json_error(body)) is not None:
            raise BadRequest(f"{NOT_JSON}: {broken}") from None
        raise invalid_body(exc) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"{NOT_JSON}: {exc}" if body else EMPTY_BODY) from None
    except RecursionError:
        # msgspec's own limit on nesting, reached within free-form fields.
        raise BadRequest("The body is nested too deeply") from None


def _json_error(body: bytes) -> msgspec.DecodeError | None:
    try:
        msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        return exc
    except RecursionError:
        pass  # JSON, nested deeper than msgspec goes
    return None


# msgspec states a pattern a name failed to match as the regular expression.
_UNSAFE_NAME = f"Expected `str` matching regex {SAFE_NAME_PATTERN!r}"


def invalid_body(exc: msgspec.ValidationError) -> ValidationException:
    """msgspec's ``problem - at `$.a[0].b``` as a 400 about the field ``a[0].b``."""
    problem, _, where = str(exc).partition(" - at `$")
    if problem == _UNSAFE_NAME:
        problem = f"Expected a name of {SAFE_NAME_RULE}"
    return invalid_field(where.rstrip("`").lstrip("."), problem)


def invalid_field(key: str, problem: str) -> ValidationException:
    """A 400 about the body's field ``key`` (``""``: the body as a whole),
    rendered by the app's handler like Litestar's own body errors."""
    return ValidationException(problem, extra=[{"key": key, "message": problem, "source": "body"}])


def body_schema(type_: type, description: str) -> RequestBody:
    """The OpenAPI request body of a route that reads ``type_`` with :func:`decode_body`.

    msgspec's JSON schema of the type, with its definitions written in place
    (a schema inside an operation cannot point at ``$defs``).
    """
    schema = msgspec.json.schema(type_)
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    return RequestBody(content={"application/json": OpenAPIMediaType(schema=inline(schema))},
                       description=description, required=True)


def _encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in headers.items()]


async def send_json(send: Send, body: bytes, headers: dict[str, str]) -> None:
    """A 200 with the JSON ``body`` and ``headers``."""
    await send({"type": "http.response.start", "status": 200, "headers": [
        _JSON, (b"content-length", b"%d" % len(body)), *_encoded(headers)]})
    await send({"type": "http.response.body", "body": body})


async def send_events(send: Send, events: AsyncGenerator[bytes, None],
                      headers: dict[str, str]) -> None:
    """A 200 of Server-Sent Events, each piece of ``events`` sent as soon as it is made.

    ``events`` is closed however the reply ends, so that a client hanging up
    (which cancels the request) closes the upstream stream at once.
    """
    async with aclosing(events):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_EVENTS, *_encoded(headers)]})
        async for event in events:
            await send({"type": "http.response.body", "body": event, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
