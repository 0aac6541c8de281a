"""The provider interface every provider type implements.

The core reaches upstreams only through :class:`Provider`. A plugin offers a
provider *type* (a subclass) through the ``gateway_provider_types`` hook, and
every ``[providers.<id>]`` table of that type in ``config.toml`` becomes one
instance of it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Annotated, ClassVar

import httpx
import msgspec

from .errors import GatewayError, UpstreamTimeout, UpstreamUnreachable
from .types import ChatChunk, ChatRequest, ChatResponse, ChunkChoice, Delta, ModelInfo

Seconds = Annotated[float, msgspec.Meta(gt=0)]


class ProviderConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The keys of a ``[providers.<id>]`` table.

    A provider type that needs more keys, or other defaults, subclasses this
    and names the subclass in :attr:`Provider.config_type`.
    """

    type: str = ""
    name: str = ""
    enabled: bool = True
    api_key: str = ""
    # Name of an environment variable holding the key, so no key has to be
    # written into config.toml.
    api_key_env: str = ""
    model: str = ""
    base_url: str = ""
    # Seconds to wait for the upstream to send anything (read/write).
    timeout: Seconds = 60.0
    connect_timeout: Seconds = 5.0
    # Seconds to wait for a free connection from the pool.
    pool_timeout: Seconds = 5.0
    max_connections: Annotated[int, msgspec.Meta(ge=1)] = 100
    # Tried in order when this provider fails before answering (see
    # ChatService): "<provider id>/<model>", or "<provider id>" for that
    # provider's default model.
    fallbacks: list[str] = msgspec.field(default_factory=list)

    def resolved_api_key(self) -> str:
        if self.api_key:
            # A TOML multi-line string ends in a newline too.
            return self.api_key.strip()
        if self.api_key_env:
            # A key saved with `echo key > file` ends in a newline, which is
            # not allowed in a header (and would show up in the error).
            return os.environ.get(self.api_key_env, "").strip()
        return ""

    def shown_base_url(self) -> str:
        """``base_url`` for messages and listings: without the ``user:password@``
        that some deployments put in it, which is a credential."""
        try:
            return str(httpx.URL(self.base_url).copy_with(userinfo=b""))
        except httpx.InvalidURL:
            return self.base_url


class Provider:
    """Base class for provider types.

    Subclasses implement :meth:`chat`, :meth:`chat_stream`,
    :meth:`list_models` and usually :meth:`health`. They raise the errors of
    :mod:`gateway.errors` and never build HTTP responses themselves.
    """

    #: The Struct that a ``[providers.<id>]`` table is decoded into.
    config_type: ClassVar[type[ProviderConfig]] = ProviderConfig

    @classmethod
    def check_config(cls, config: ProviderConfig) -> None:
        """Raise ``ValueError`` with a message for a table that can never work
        with this type; start-up stops with the file, the table and the message.

        Called once per table at start-up, after the common keys' own checks.
        """

    def __init__(self, id: str, config: ProviderConfig) -> None:
        self.id = id
        self.config = config
        self.status = "disconnected" if config.enabled else "disabled"
        self.last_checked = ""
        self.last_error = ""

    @property
    def name(self) -> str:
        return self.config.name or self.id

    async def start(self) -> None:
        """Open long-lived resources (HTTP clients); called once at app start-up."""

    async def close(self) -> None:
        """Release what :meth:`start` opened; called once at shutdown."""

    async def chat(self, request: ChatRequest) -> ChatResponse:
        raise NotImplementedError

    async def chat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Yield the reply's chunks as the upstream sends them.

        Errors the upstream reports before its first chunk must be raised
        before the first ``yield``, so the client still gets a proper status.
        The default, for upstreams that cannot stream, sends the whole
        :meth:`chat` reply as one chunk.
        """
        response = await self.chat(request)
        yield ChatChunk(
            id=response.id, model=response.model, usage=response.usage,
            choices=[ChunkChoice(index=c.index, finish_reason=c.finish_reason,
                                 delta=Delta(role=c.message.role, content=c.message.content
                                             if isinstance(c.message.content, str) else None))
                     for c in response.choices],
        )

    async def list_models(self) -> list[ModelInfo]:
        raise NotImplementedError

    async def find_model(self, model: str) -> ModelInfo | None:
        """The model a chat naming ``model`` would use, or ``None``.

        The default looks for that exact id in :meth:`list_models`; a
        provider whose upstream also accepts other spellings of a name
        overrides it.
        """
        for info in await self.list_models():
            if info.id == model:
                return info
        return None

    async def health(self) -> None:
        """Raise a :class:`~gateway.errors.GatewayError` if the upstream is not usable."""
        await self.list_models()

    async def check(self) -> None:
        """Run :meth:`health` and record the outcome in ``status``/``last_checked``."""
        try:
            await self.health()
        except (UpstreamUnreachable, UpstreamTimeout) as exc:
            self.status, self.last_error = "disconnected", exc.message
        except GatewayError as exc:
            self.status, self.last_error = "error", exc.message
        else:
            self.status, self.last_error = "connected", ""
        self.last_checked = datetime.now(timezone.utc).isoformat(timespec="seconds")
