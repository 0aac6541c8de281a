"""The application factory: config + plugins -> a Litestar app."""

from __future__ import annotations

import gc
import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig

from .auth import PUBLIC, document_keys, load_keys, require_scope
from .cancellation import cancel_on_disconnect
from .chat import ChatService
from .config import Config, ConfigError, config_path, load_config, resolve_provider
from .errors import GatewayError
from .error_handlers import exception_handlers
from .observability.health import health_checks
from .observability.logs import configure_logging
from .observability.metrics import reset_in_flight
from .observability.middleware import ObservabilityMiddleware
from .plugins import PluginHost
from .providers import Provider
from .routes import core_routes
from .routes.fast_path import FastPath

log = logging.getLogger("gateway")


def create_app(path: str | Path | None = None) -> Litestar:
    """Build the app from the config file at ``path`` (see :func:`config_path`).

    Raises :class:`ConfigError` when the config or a provider declaration is wrong.
    """
    config = load_config(config_path(str(path) if path else None))
    configure_logging(config.logging)
    keys = load_keys(config)
    plugins = PluginHost(config)
    providers = build_providers(config, plugins)
    chat = ChatService(plugins.hook, providers)

    routes = core_routes(config, chat)
    for contributed in plugins.call_each("gateway_routes", config=config, providers=providers):
        routes.extend(contributed or [])

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        reset_in_flight()
        async with _providers_running(app, providers, plugins, config):
            yield

    app = Litestar(
        route_handlers=routes,
        lifespan=[lifespan],
        exception_handlers=exception_handlers,
        # App-wide, so that routes added by plugins get the same protection.
        # Without keys there is nothing to check, and Litestar copies the
        # route handler for every guard call.
        guards=[require_scope] if keys.enabled else [],
        request_max_body_size=config.server.max_body_bytes,
        cors_config=CORSConfig(allow_origins=config.cors.allow_origins)
        if config.cors.allow_origins else None,
        state=State({"config": config, "plugins": plugins, "providers": providers, "chat": chat,
                     "api_keys": keys}),
        openapi_config=OpenAPIConfig(
            title="LLM Gateway", version="0.1.0",
            openapi_router=Router("/docs", route_handlers=[], include_in_schema=False,
                                  opt={"scope": PUBLIC})),
        # Logging is configure_logging's: Litestar's default would add a root
        # handler that doubles every line and logs each upstream call.
        logging_config=None,
    )
    if keys.enabled:
        document_keys(app)
    # Wrapped around the whole app rather than declared as Litestar
    # middleware, which runs only for requests that matched a route (and
    # makes Litestar wrap every route in a second exception handler).
    app.asgi_handler = ObservabilityMiddleware(
        cancel_on_disconnect(FastPath(app, keys), config.server.body_timeout),
        metrics_enabled=config.metrics.enabled,
        log_bodies=config.logging.log_bodies,
    )
    return app


def app_from_env() -> Litestar:
    """Factory for ``uvicorn --factory``: the worker processes of ``--workers N``."""
    app = create_app()
    settle_memory()
    return app


# A chat in flight holds a few hundred objects the collector tracks
# (coroutines, closures, headers) and leaves none behind in reference cycles
# (see gateway/http_client.py), so the youngest generation is mostly live
# requests: at the default threshold of 700 it was walked every twenty chats
# at 64 at a time, and what survived again in the next generation, 10 % of a
# chat's CPU time. At ten times that, collections take 1 %.
_YOUNGEST_THRESHOLD = 7000


def settle_memory() -> None:
    """Tune the garbage collector for a server process about to take requests.

    Everything built so far (modules, the app, its routes) is exempted from
    collection, which would otherwise walk those objects again though they
    live as long as the process, and the youngest generation is collected
    less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(_YOUNGEST_THRESHOLD, *gc.get_threshold()[1:])


def build_providers(config: Config, plugins: PluginHost) -> dict[str, Provider]:
    types: dict[str, type[Provider]] = {}

    def register(type_name: str, cls: type[Provider]) -> None:
        # The plugin loaded first keeps the type; a later one is reported as
        # broken rather than silently taking over every provider of that type.
        if type_name in types:
            first = types[type_name]
            raise ValueError(f"provider type {type_name!r} is already offered by "
                             f"{first.__module__}.{first.__qualname__}")
        types[type_name] = cls

    plugins.call_each("gateway_provider_types", register=register)
    providers: dict[str, Provider] = {}
    for provider_id, raw in config.providers.items():
        type_name = raw.get("type", provider_id)
        if not isinstance(type_name, str):
            raise ConfigError(f"{config.path}: providers.{provider_id}.type: expected a string")
        cls = types.get(type_name)
        if cls is None:
            if raw.get("enabled", True) is False:
                log.info("provider %s skipped: disabled, and no plugin offers type %r",
                         provider_id, type_name)
                continue
            known = ", ".join(sorted(types)) or "none"
            raise ConfigError(
                f"{config.path}: providers.{provider_id}.type: no enabled plugin offers "
                f"provider type {type_name!r} (available types: {known})"
            )
        resolved = resolve_provider(config, provider_id, cls.config_type)
        try:
            cls.check_config(resolved)
        except ValueError as exc:
            raise ConfigError(f"{config.path}: providers.{provider_id}: {exc}") from None
        providers[provider_id] = cls(provider_id, resolved)
    return providers


@asynccontextmanager
async def _providers_running(
    app: Litestar, providers: dict[str, Provider], plugins: PluginHost, config: Config
) -> AsyncIterator[None]:
    started: list[Provider] = []
    try:
        for provider in providers.values():
            if provider.config.enabled:
                await provider.start()
                started.append(provider)
        await _await_all(plugins.hook.gateway_startup(app=app))
        # In the background, so a slow upstream does not delay start-up.
        async with health_checks(started, config.server.health_check_interval):
            yield
    finally:
        try:
            await _await_all(plugins.hook.gateway_shutdown(app=app))
        finally:
            for provider in started:
                await provider.close()


async def _await_all(results: list[Any]) -> None:
    for result in results:
        if inspect.isawaitable(result):
            await result


__all__ = ["create_app", "app_from_env", "GatewayError"]
