"""The chat routes served beside Litestar rather than through it.

Every chat passes through here. A chat handler takes no parameters and only
hands Litestar an ASGI app (see :mod:`.wire`), yet Litestar's routing, its
handler call and its exception middleware still cost each chat some 70,000
instructions, 5 % of all it took (``make instructions``). So a ``POST`` to
the exact path of a route marked with :func:`serve_directly` goes straight to
its app, and this module does for it what Litestar would have done: check the
API key against the route's scope, name the route for metrics and the access
log, and render what the app raises with the app's own exception handlers.

Everything else goes to Litestar, and so does a chat that sends an ``Origin``
when CORS is configured, since the CORS headers are Litestar's to add. The
routes stay registered with Litestar, which documents them and serves their
other spellings (a trailing slash).
"""

from __future__ import annotations

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from ..auth import USER, Keys, check_key, presented_key, require_scope
from ..error_handlers import send_error
from ..observability.context import request_record

_DIRECT = "gateway_direct"


def serve_directly(handler: HTTPRouteHandler, serve: ASGIApp) -> HTTPRouteHandler:
    """Have ``serve`` answer ``handler``'s requests beside Litestar.

    ``handler`` must be a ``POST`` route whose function does nothing but
    return ``serve``: Litestar serves it that way when the fast path cannot.
    """
    handler.opt[_DIRECT] = serve
    return handler


class _Route:
    __slots__ = ("path", "handler", "scope", "serve")

    def __init__(self, path: str, handler: HTTPRouteHandler, serve: ASGIApp) -> None:
        self.path = path
        self.handler = handler
        self.scope = handler.opt.get("scope", USER)
        self.serve = serve


class FastPath:
    """The app's ASGI handler: the marked routes directly, the rest through ``litestar``."""

    def __init__(self, app: Litestar, keys: Keys) -> None:
        self.litestar = app.asgi_handler
        self.keys = keys if keys.enabled else None
        self.cors = app.cors_config is not None
        self.routes: dict[str, _Route] = {}
        for route in app.routes:
            for handler in route.route_handlers:
                serve = handler.opt.get(_DIRECT)
                if serve is not None and _only_guarded_by_keys(handler):
                    self.routes[route.path] = _Route(route.path, handler, serve)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] != "POST":
            await self.litestar(scope, receive, send)
            return
        authorization = x_api_key = None
        if self.keys is not None or self.cors:
            # The first of each header, even if empty, as the guard reads them.
            for name, value in scope["headers"]:
                if name == b"origin" and self.cors:
                    await self.litestar(scope, receive, send)
                    return
                if name == b"authorization" and authorization is None:
                    authorization = value.decode("latin-1")
                elif name == b"x-api-key" and x_api_key is None:
                    x_api_key = value.decode("latin-1")
        # What Litestar's routing sets, for the metrics and for rendering errors.
        scope["path_template"] = route.path
        scope["route_handler"] = route.handler
        try:
            if self.keys is not None:
                check_key(self.keys, route.scope,
                          presented_key(authorization or "", x_api_key or ""))
            await route.serve(scope, receive, send)
        except Exception as exc:
            if request_record().status:
                raise  # the reply has begun: the server can only cut it off
            await send_error(exc, scope, receive, send)


def _only_guarded_by_keys(handler: HTTPRouteHandler) -> bool:
    # Anything else Litestar would run around the handler is a reason to
    # leave the route to Litestar rather than skip it.
    return (set(handler.resolve_guards()) <= {require_scope}
            and not handler.resolve_middleware()
            and handler.resolve_before_request() is None
            and handler.resolve_after_response() is None)
