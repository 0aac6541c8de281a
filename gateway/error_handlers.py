"""Rendering errors: the one place where exceptions become HTTP responses.

Two shapes: the gateway's own ``{"status_code", "error", "detail"}`` and, for
the OpenAI-compatible front door under ``/v1``, OpenAI's
``{"error": {"message", "type", "param", "code"}}`` so that OpenAI SDKs raise
their usual exception types.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    SerializationException,
    ValidationException,
)
from litestar.openapi import ResponseSpec
from litestar.types import Receive, Scope, Send

from .errors import GatewayError, InternalError, ModelNotFound, UnknownProvider

log = logging.getLogger("gateway")

# OpenAI's error "type" for each status the gateway sends.
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class ErrorBody(msgspec.Struct):
    """The gateway's own error shape (for the OpenAPI schema)."""

    status_code: int
    error: str
    detail: str
    # A 400 about the request's fields has one entry per field:
    # {"key": <the field>, "message": <what is wrong>, "source": "body", ...}.
    extra: list[dict[str, Any]] | None = None


class OpenAIError(msgspec.Struct):
    message: str
    type: str
    param: str | None
    code: str


class OpenAIErrorBody(msgspec.Struct):
    """OpenAI's error shape, used under ``/v1`` (for the OpenAPI schema)."""

    error: OpenAIError


def error_body_type(path: str) -> type[msgspec.Struct]:
    """The shape of the errors rendered for requests to ``path``."""
    return OpenAIErrorBody if _is_openai(path) else ErrorBody


def documented_errors(path: str, statuses: dict[int, str]) -> dict[int, ResponseSpec]:
    """OpenAPI ``responses`` for the errors a route at ``path`` may send,
    each ``status: description``, in the shape rendered for that path."""
    body = error_body_type(path)
    return {status: ResponseSpec(body, description=text) for status, text in statuses.items()}


#: What a route that calls a provider may answer besides a bad request.
UPSTREAM_FAILURES = {
    404: "No such model (under /v1, also: no such provider)",
    429: "The provider is rate-limiting the gateway",
    502: "The provider failed or sent a reply the gateway cannot read",
    503: "The provider cannot be reached, or is too busy (it answered 503, or its connection "
         "pool is full)",
    504: "The provider did not answer in time",
}


# Under /v1 the provider is part of the model name, so an OpenAI client
# should see an unknown provider as what it is there: an unknown model.
_OPENAI_RENDERED_AS: dict[type[GatewayError], type[GatewayError]] = {
    UnknownProvider: ModelNotFound,
}


def _is_openai(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


def _openai_body(status: int, kind: str, message: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {
        "message": message,
        "type": _OPENAI_TYPES.get(status, "api_error"),
        "param": param,
        "code": kind,
    }}


def openai_error(exc: GatewayError) -> dict[str, Any]:
    """``exc`` in OpenAI's error shape, for errors sent inside a /v1 stream."""
    shown = _OPENAI_RENDERED_AS.get(type(exc), type(exc))
    return _openai_body(shown.status_code, exc.upstream_code or shown.kind, exc.message, exc.param)


def error_response(
    request: Request[Any, Any, Any],
    status: int,
    kind: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    param: str | None = None,
    extra: Any = None,
) -> Response[Any]:
    if _is_openai(request.url.path):
        body = _openai_body(status, kind, message, param)
    else:
        body = {"status_code": status, "error": kind, "detail": message}
        if extra:
            body["extra"] = extra
    return Response(body, status_code=status, headers=headers)


def _gateway_error(request: Request[Any, Any, Any], exc: GatewayError) -> Response[Any]:
    if _is_openai(request.url.path):
        shown = _OPENAI_RENDERED_AS.get(type(exc), type(exc))
        return error_response(request, shown.status_code, exc.upstream_code or shown.kind,
                              exc.message, headers=exc.headers, param=exc.param)
    return error_response(request, exc.status_code, exc.kind, exc.message, headers=exc.headers)


# How the gateway words a body that is missing, or not JSON, on every route.
EMPTY_BODY = "The body is empty; send a JSON object"
NOT_JSON = "The body is not valid JSON"

# msgspec names the object, not the field, in these two.
_FIELD_PROBLEMS = {"Object missing required field `": "missing required field",
                   "Object contains unknown field `": "unknown field"}


def _named_field(entry: Any) -> Any:
    """A body problem with the field it is about as its ``key``.

    For the body as a whole, Litestar gives its handler parameter (``data``)
    and a route reading the body itself gives none; for a missing or unknown
    field msgspec gives the enclosing object's path and the field's name in
    the message.
    """
    if not isinstance(entry, dict) or entry.get("source") != "body":
        return entry
    key = entry.get("key") or ""
    where = "" if key == "data" else key
    message = str(entry.get("message", "invalid"))
    if key == "data" and message == "'data'":
        # Litestar's word when a body parameter got no body at all.
        return {**entry, "key": "body", "message": EMPTY_BODY}
    for prefix, short in _FIELD_PROBLEMS.items():
        if message.startswith(prefix):
            field = message[len(prefix):].rstrip("`")
            return {**entry, "key": f"{where}.{field}" if where else field, "message": short}
    return {**entry, "key": where or "body", "message": message}


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    extra = [_named_field(e) for e in exc.extra] if isinstance(exc.extra, list) else None
    fields = [e for e in extra or [] if isinstance(e, dict) and e.get("key")]
    if fields:
        message = "; ".join(f"{e['key']}: {e.get('message', 'invalid')}" for e in fields)
        param = fields[0]["key"]
    else:
        message, param = exc.detail, None
    return error_response(request, exc.status_code, "invalid_request", message,
                          param=param, extra=extra)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    kind = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(
        exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error"
    )
    detail = exc.detail
    if isinstance(exc.__cause__, SerializationException):
        # Litestar reading a body parameter (a plugin's route) that is not JSON.
        detail = f"{NOT_JSON}: {detail}"
    if exc.status_code == 413:
        limit = request.route_handler.resolve_request_max_body_size()
        detail = f"The request body is larger than this endpoint's limit of {limit} bytes"
    return error_response(request, exc.status_code, kind, detail, headers=exc.headers or None)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _gateway_error(request, InternalError())


exception_handlers: dict[Any, Any] = {
    GatewayError: _gateway_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}


async def send_error(exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
    """Send ``exc`` as the app's handler for it renders it, for a request
    that Litestar's routing did not see (see :mod:`gateway.routes.fast_path`)."""
    handler = next(exception_handlers[cls] for cls in type(exc).__mro__
                   if cls in exception_handlers)
    request: Request[Any, Any, Any] = Request(scope, receive, send)
    await handler(request, exc).to_asgi_response(None, request)(scope, receive, send)
