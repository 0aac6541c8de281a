"""The application factory: config + plugins -> a Litestar app."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig

from .chat import ChatService
from .config import Config, ConfigError, config_path, load_config, resolve_provider
from .errors import GatewayError
from .error_handlers import exception_handlers
from .overhead import OverheadHeader
from .plugins import PluginHost
from .providers import Provider
from .routes import core_routes

log = logging.getLogger("gateway")


def create_app(path: str | Path | None = None) -> Litestar:
    """Build the app from the config file at ``path`` (see :func:`config_path`).

    Raises :class:`ConfigError` when the config or a provider declaration is wrong.
    """
    config = load_config(config_path(str(path) if path else None))
    plugins = PluginHost(config)
    providers = build_providers(config, plugins)
    chat = ChatService(plugins.hook, providers)

    routes: list[Any] = list(core_routes)
    for contributed in plugins.hook.gateway_routes(config=config, providers=providers):
        routes.extend(contributed or [])

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with _providers_running(app, providers, plugins):
            yield

    return Litestar(
        route_handlers=routes,
        lifespan=[lifespan],
        exception_handlers=exception_handlers,
        middleware=[OverheadHeader],
        state=State({"config": config, "plugins": plugins, "providers": providers, "chat": chat}),
        openapi_config=OpenAPIConfig(title="LLM Gateway", version="0.1.0", path="/docs"),
    )


def app_from_env() -> Litestar:
    """Factory for ``uvicorn --factory``: the worker processes of ``--workers N``."""
    return create_app()


def build_providers(config: Config, plugins: PluginHost) -> dict[str, Provider]:
    types: dict[str, type[Provider]] = {}

    def register(type_name: str, cls: type[Provider]) -> None:
        types[type_name] = cls

    plugins.hook.gateway_provider_types(register=register)
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
        providers[provider_id] = cls(provider_id, resolve_provider(config, provider_id, cls.config_type))
    return providers


@asynccontextmanager
async def _providers_running(
    app: Litestar, providers: dict[str, Provider], plugins: PluginHost
) -> AsyncIterator[None]:
    started: list[Provider] = []
    checks: asyncio.Task[Any] | None = None
    try:
        for provider in providers.values():
            if provider.config.enabled:
                await provider.start()
                started.append(provider)
        await _await_all(plugins.hook.gateway_startup(app=app))
        # A first health check in the background, so /api/providers shows a
        # real status soon without delaying start-up on a slow upstream.
        checks = asyncio.create_task(_check_all(started))
        yield
    finally:
        if checks is not None:
            checks.cancel()
        try:
            await _await_all(plugins.hook.gateway_shutdown(app=app))
        finally:
            for provider in started:
                await provider.close()


async def _check_all(providers: list[Provider]) -> None:
    await asyncio.gather(*(p.check() for p in providers), return_exceptions=True)


async def _await_all(results: list[Any]) -> None:
    for result in results:
        if inspect.isawaitable(result):
            await result


__all__ = ["create_app", "app_from_env", "GatewayError"]
