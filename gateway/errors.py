"""The gateway's error taxonomy.

Plugins raise these; the app's exception handlers (``gateway/app.py``) turn
them into responses. Each class carries its HTTP status and a short ``kind``
that clients can switch on, so the mapping lives here and nowhere else.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base class: a failure the client should hear about in words it can act on."""

    status_code: int = 500
    kind: str = "gateway_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None,
                 param: str | None = None, upstream_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        # The request field the error is about, and the upstream's own code
        # for it: /v1 shows both in OpenAI's error shape, as OpenAI would.
        self.param = param
        self.upstream_code = upstream_code


class InternalError(GatewayError):
    """A bug in the gateway or a plugin; the traceback is in the gateway's log."""

    status_code = 500
    kind = "internal_error"

    def __init__(self) -> None:
        super().__init__("The gateway hit an unexpected error; the details are in its log.")


class BadRequest(GatewayError):
    """The client sent something the gateway cannot act on."""

    status_code = 400
    kind = "bad_request"


class Unauthorized(GatewayError):
    """The request carries no API key, or one the gateway does not know."""

    status_code = 401
    kind = "unauthorized"


class Forbidden(GatewayError):
    """The API key is valid but its scope does not cover this endpoint."""

    status_code = 403
    kind = "forbidden"


class UnknownProvider(BadRequest):
    """The request named a provider that is not configured or not enabled."""

    kind = "unknown_provider"


class ModelNotFound(GatewayError):
    """The provider does not have the requested model."""

    status_code = 404
    kind = "model_not_found"


class RateLimited(GatewayError):
    """The upstream asked us to slow down; its ``Retry-After`` is passed on."""

    status_code = 429
    kind = "rate_limited"


class UpstreamError(GatewayError):
    """The upstream answered with an error the gateway cannot classify further."""

    status_code = 502
    kind = "upstream_error"


class BadUpstreamReply(UpstreamError):
    """The upstream answered, but not in the shape its API promises."""

    kind = "bad_upstream_reply"


class UpstreamUnreachable(GatewayError):
    """The upstream could not be reached at all (refused, DNS, TLS)."""

    status_code = 503
    kind = "upstream_unreachable"


class UpstreamBusy(GatewayError):
    """The upstream cannot take the request now: it answered 503 (its queue is
    full, it is overloaded), or every connection the gateway may open to it is
    in use. Trying again later, or elsewhere, may work."""

    status_code = 503
    kind = "upstream_busy"


class UpstreamTimeout(GatewayError):
    """The upstream did not answer within its configured timeout."""

    status_code = 504
    kind = "upstream_timeout"
