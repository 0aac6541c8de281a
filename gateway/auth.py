"""The gateway's own API keys: who may call which endpoint.

Every route has a scope, read from its handler's (or its router's) ``opt``:
``"public"`` needs no key, ``"user"`` (the default) needs a user or admin key,
``"admin"`` needs an admin key. With no keys configured the checks are off,
and ``gateway serve`` refuses to listen beyond loopback (see
:func:`check_bind`). Keys are held only as SHA-256 digests.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
from typing import Any

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import SecurityScheme

from .config import Config, ConfigError
from .error_handlers import error_body_type
from .errors import Forbidden, Unauthorized

PUBLIC, USER, ADMIN = "public", "user", "admin"


class Keys:
    """The configured keys of each scope, as digests."""

    def __init__(self, user: list[bytes], admin: list[bytes]) -> None:
        self.user = user
        self.admin = admin

    @property
    def enabled(self) -> bool:
        return bool(self.user or self.admin)

    def scope_of(self, key: str) -> str | None:
        """``"admin"``, ``"user"`` or ``None`` for an unknown key."""
        digest = _digest(key)
        # Every digest is compared, so the time taken does not tell an
        # attacker which scope (or how many keys) a guess came close to.
        admin = _matches_any(digest, self.admin)
        user = _matches_any(digest, self.user)
        return ADMIN if admin else USER if user else None


def load_keys(config: Config) -> Keys:
    """Read the ``[auth]`` keys; a named variable that is unset is a :class:`ConfigError`."""
    auth = config.auth

    def from_env(field: str, names: list[str]) -> list[bytes]:
        digests = []
        for name in names:
            # Stray whitespace could never be sent back in a header.
            value = os.environ.get(name, "").strip()
            if not value:
                raise ConfigError(
                    f"{config.path}: auth.{field}: environment variable {name} is not set"
                )
            digests.append(_digest(value))
        return digests

    user = from_env("user_key_envs", auth.user_key_envs)
    admin = from_env("admin_key_envs", auth.admin_key_envs)
    user += [bytes.fromhex(h) for h in auth.user_key_sha256]
    admin += [bytes.fromhex(h) for h in auth.admin_key_sha256]
    return Keys(user=user, admin=admin)


async def require_scope(connection: ASGIConnection[Any, Any, Any, Any],
                        handler: BaseRouteHandler) -> None:
    """App-wide guard, set when keys are configured: so plugin routes and
    ``/v1`` are covered without opting in."""
    headers = connection.headers
    check_key(connection.app.state.api_keys, handler.opt.get("scope", USER),
              presented_key(headers.get("authorization", ""), headers.get("x-api-key", "")))


def check_key(keys: Keys, needed: str, key: str) -> None:
    """Raise :class:`Unauthorized` or :class:`Forbidden` unless ``key`` (``""``:
    none was sent) may call an endpoint of the scope ``needed``."""
    if needed == PUBLIC:
        return
    if not key:
        raise Unauthorized(
            "This endpoint needs an API key: send 'Authorization: Bearer <key>' or "
            "'x-api-key: <key>'.", headers={"WWW-Authenticate": "Bearer"})
    granted = keys.scope_of(key)
    if granted is None:
        raise Unauthorized("The API key is not valid.", headers={"WWW-Authenticate": "Bearer"})
    # An unknown scope name (a typo in a plugin) is treated as admin: closed, not open.
    if needed != USER and granted != ADMIN:
        raise Forbidden("This endpoint needs an admin key; the key sent is a user key.")


def document_keys(app: Litestar) -> None:
    """Show in the OpenAPI schema which key each endpoint needs, and its 401/403.

    Called once the app is built (scopes set on routers are only merged into
    their routes then) and before the schema is first generated.
    """
    app.openapi_config.components.security_schemes = {
        "bearer": SecurityScheme(type="http", scheme="bearer"),
        "apiKey": SecurityScheme(type="apiKey", name="x-api-key", security_scheme_in="header"),
    }
    for route in app.routes:
        for handler in route.route_handlers:
            scope = handler.opt.get("scope", USER)
            if scope == PUBLIC or not isinstance(handler, HTTPRouteHandler):
                continue
            body = error_body_type(route.path)
            refusals = {401: ResponseSpec(body, description="No API key, or an unknown one")}
            if scope != USER:
                refusals[403] = ResponseSpec(body, description="A user key; this needs an admin key")
            handler.security = [*(handler.security or []), {"bearer": []}, {"apiKey": []}]
            handler.responses = {**refusals, **(handler.responses or {})}


# RFC 7235 separates the scheme from the token with spaces only; some
# clients send a tab, which costs nothing to accept.
_BEARER = re.compile(r"bearer[ \t]+", re.IGNORECASE)


def presented_key(authorization: str, x_api_key: str) -> str:
    """The key a request sent in the values of those two headers, or ``""``."""
    scheme = _BEARER.match(authorization)
    if scheme and (key := authorization[scheme.end():].strip()):
        return key
    return x_api_key.strip()


def check_bind(config: Config, keys: Keys, host: str) -> None:
    """Refuse (with a :class:`ConfigError`) to serve beyond loopback without keys."""
    if keys.enabled or config.server.allow_public_without_keys or _is_loopback(host):
        return
    raise ConfigError(
        f"{config.path}: refusing to listen on {host!r} without API keys, which would let "
        f"anyone who can reach it use the providers' credentials. Set keys in [auth] "
        f"(user_key_envs, admin_key_envs), bind to 127.0.0.1, or set "
        f"[server] allow_public_without_keys = true."
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        # Any other name may resolve to a public address.
        return False


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _matches_any(digest: bytes, digests: list[bytes]) -> bool:
    found = False
    for candidate in digests:
        found |= hmac.compare_digest(digest, candidate)
    return found
