import msgspec
from litestar import get, post
from litestar.datastructures import State
from litestar.params import FromPath

from ..errors import UnknownProvider
from ..providers import Provider


class ProviderInfo(msgspec.Struct, kw_only=True):
    id: str
    name: str
    type: str
    enabled: bool
    model: str
    base_url: str
    # "connected", "disconnected", "error" or "disabled"
    status: str
    last_checked: str
    # Whether a key is configured; the key itself is never returned.
    has_api_key: bool
    error: str = ""


class ProviderList(msgspec.Struct):
    providers: list[ProviderInfo]


def _info(provider: Provider) -> ProviderInfo:
    cfg = provider.config
    return ProviderInfo(
        id=provider.id, name=provider.name, type=cfg.type, enabled=cfg.enabled,
        model=cfg.model, base_url=cfg.shown_base_url(), status=provider.status,
        last_checked=provider.last_checked, has_api_key=bool(cfg.resolved_api_key()),
        error=provider.last_error,
    )


@get("/api/providers", summary="Configured providers and their status", tags=["gateway"])
async def list_providers(state: State) -> ProviderList:
    return ProviderList(providers=[_info(p) for p in state.providers.values()])


@post("/api/providers/{provider_id:str}/check", status_code=200,
      summary="Run a provider's health check now", tags=["gateway"], opt={"scope": "admin"})
async def check_provider(state: State, provider_id: FromPath[str]) -> ProviderInfo:
    provider = state.providers.get(provider_id)
    if provider is None:
        raise UnknownProvider(
            f"Provider {provider_id!r} is not configured. "
            f"Configured providers: {', '.join(state.providers) or 'none'}"
        )
    if provider.config.enabled:
        await provider.check()
    return _info(provider)
