"""Reading ``config.toml`` into typed settings.

Every problem is reported as one :class:`ConfigError` line naming the file,
the key and what is wrong, so ``gateway serve`` can print it and stop.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import msgspec

from .providers import ProviderConfig

DEFAULT_PATH = "config.toml"


class ConfigError(Exception):
    pass


Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]


class ServerConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Port = 8002
    workers: Annotated[int, msgspec.Meta(ge=1)] = 1
    # Folders of drop-in plugins, relative to the config file.
    plugin_dirs: list[str] = msgspec.field(default_factory=list)
    # The provider that /v1 sends a model name without "<provider id>/" to.
    default_provider: str = ""
    # Seconds between background health checks of each provider; 0 checks
    # once at start-up only.
    health_check_interval: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    # Request bodies larger than this many bytes are refused with 413.
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1)] = 1024 * 1024
    # Seconds a client gets to send the whole request body; slower ones get a 408.
    body_timeout: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    # Listen on a non-loopback address although no [auth] keys are set.
    allow_public_without_keys: bool = False
    # Seconds that in-flight requests get to finish after SIGTERM.
    shutdown_grace: Annotated[float, msgspec.Meta(ge=0)] = 30.0


class LoggingConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    level: Literal["debug", "info", "warning", "error"] = "info"
    # "json": one JSON object per line, for log shippers; "text": for people.
    format: Literal["json", "text"] = "json"
    # Put the chat messages and the reply text into the access log.
    log_bodies: bool = False


class MetricsConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Serve GET /metrics (Prometheus text format).
    enabled: bool = True


_SHA256 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]


class AuthConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The gateway's own API keys; with none, every endpoint is open."""

    # Names of environment variables, each holding one key.
    user_key_envs: list[str] = msgspec.field(default_factory=list)
    admin_key_envs: list[str] = msgspec.field(default_factory=list)
    # Hex SHA-256 digests of keys, so that keys can live in the file unreadable.
    user_key_sha256: list[_SHA256] = msgspec.field(default_factory=list)
    admin_key_sha256: list[_SHA256] = msgspec.field(default_factory=list)


class CorsConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Browser origins allowed to call the gateway; none means CORS is off.
    allow_origins: list[str] = msgspec.field(default_factory=list)


class Config(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    metrics: MetricsConfig = msgspec.field(default_factory=MetricsConfig)
    auth: AuthConfig = msgspec.field(default_factory=AuthConfig)
    cors: CorsConfig = msgspec.field(default_factory=CorsConfig)
    plugins: dict[str, bool] = msgspec.field(default_factory=dict)
    # Decoded against each provider type's own config Struct once the
    # plugins offering those types are loaded (see resolve_provider).
    providers: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    # Where the file was read from; not a key of the file.
    path: str = ""


def config_path(explicit: str | None = None) -> Path:
    """``--config`` if given, else ``$GATEWAY_CONFIG``, else ``./config.toml``."""
    return Path(explicit or os.environ.get("GATEWAY_CONFIG") or DEFAULT_PATH)


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
    try:
        raw = msgspec.toml.decode(data)
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if isinstance(raw, dict) and "path" in raw:
        raise ConfigError(f"{path}: path: unknown key")
    _check_tables(path, raw)
    try:
        config = msgspec.convert(raw, type=Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(describe(path, exc)) from None
    default = config.server.default_provider
    if default and default not in config.providers:
        raise ConfigError(f"{path}: server.default_provider: no provider {default!r} is configured")
    base = path.resolve().parent
    config.path = str(path)
    config.server.plugin_dirs = [str(base / d) for d in config.server.plugin_dirs]
    return config


def _check_tables(path: Path, raw: Any) -> None:
    """The values of ``[plugins]`` and ``[providers]``, checked here because
    msgspec's message about a value in a dict does not name its key."""
    if not isinstance(raw, dict):
        return
    for table, expected in (("plugins", bool), ("providers", dict)):
        values = raw.get(table)
        if not isinstance(values, dict):
            continue  # msgspec names the table itself
        for key, value in values.items():
            if not isinstance(value, expected):
                raise ConfigError(f"{path}: {table}.{key}: Expected `{_json_type(expected)}`, "
                                  f"got `{_json_type(type(value))}`")


def _json_type(type_: type) -> str:
    """A type as msgspec's messages name it."""
    return {dict: "object", list: "array"}.get(type_, type_.__name__)


def resolve_provider(
    config: Config, provider_id: str, config_type: type[ProviderConfig]
) -> ProviderConfig:
    """Decode ``[providers.<provider_id>]`` into its type's config Struct."""
    if not _PROVIDER_ID.fullmatch(provider_id):
        raise ConfigError(
            f"{config.path}: providers.{provider_id}: {provider_id!r} cannot be a provider id: "
            "use letters, digits, '_', '-' and '.', no '..' (the id goes before the '/' of model "
            "names and into URLs)"
        )
    raw = dict(config.providers[provider_id])
    raw.setdefault("type", provider_id)
    try:
        resolved = msgspec.convert(raw, type=config_type)
    except msgspec.ValidationError as exc:
        raise ConfigError(describe(config.path, exc, prefix=f"providers.{provider_id}")) from None
    where = f"{config.path}: providers.{provider_id}"
    if resolved.base_url and (problem := _url_problem(resolved.base_url)):
        # Without the URL itself, which may hold a user:password.
        raise ConfigError(f"{where}.base_url: {problem}")
    if (key := resolved.resolved_api_key()) and not _HEADER_VALUE.fullmatch(key):
        raise ConfigError(f"{where}.api_key: the key (from api_key or api_key_env) holds a "
                          "space, a control character or a non-ASCII one; a header cannot carry it")
    for target in resolved.fallbacks:
        fallback_id, slash, model = target.partition("/")
        if fallback_id not in config.providers or (slash and not model):
            raise ConfigError(
                f"{config.path}: providers.{provider_id}.fallbacks: {target!r} is not "
                "\"<provider id>/<model>\" or \"<provider id>\" of a configured provider"
            )
    return resolved


# As SafeName, which the routes check provider ids against, no "..".
_PROVIDER_ID = re.compile(r"(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]*")
# What an HTTP header value (the Authorization header) may hold.
_HEADER_VALUE = re.compile(r"[\x21-\x7e]+")


def _url_problem(url: str) -> str | None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        return f"not a URL ({exc})"
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return "not an http:// or https:// URL"
    return None


_AT = re.compile(r"^(?P<problem>.*) - at `\$(?P<where>[^`]*)`$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`$")


def describe(path: str | Path, exc: msgspec.ValidationError, prefix: str = "") -> str:
    """Turn msgspec's ``problem - at `$.a.b``` into ``file: a.b: problem``."""
    message = str(exc)
    where = ""
    match = _AT.match(message)
    if match:
        message, where = match["problem"], match["where"]
    key = prefix + where.replace("[", ".").replace("]", "").replace("'", "").replace('"', "")
    unknown = _UNKNOWN.match(message)
    if unknown:
        key = f"{key}.{unknown['field']}" if key else unknown["field"]
        message = "unknown key"
    return f"{path}: {key.lstrip('.') or '(top level)'}: {message}"
