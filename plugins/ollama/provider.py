"""The Ollama provider: chat through Ollama's ``/v1`` layer, models through its native API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import httpx
import msgspec

from gateway import (
    BadRequest,
    GatewayError,
    ModelInfo,
    ModelNotFound,
    OpenAICompatibleProvider,
    ProviderConfig,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
    record_pull,
    upstream_call,
)

from .errors import BadOllamaReply, PullFailed
from .native import (
    LocalModel,
    ModelShow,
    PullProgress,
    RunningModel,
    decode_error,
    decode_progress,
    decode_running,
    decode_show,
    decode_tags,
)


class OllamaConfig(ProviderConfig, kw_only=True, forbid_unknown_fields=True):
    name: str = "Ollama"
    enabled: bool = False
    model: str = "llama3.2"
    base_url: str = "http://localhost:11434/v1"
    # A local model that is still loading sends nothing for a long while.
    timeout: float = 300.0
    # Seconds a whole pull may take. Multi-GB models need many minutes, and
    # Ollama sends nothing at all while it verifies what it downloaded.
    pull_timeout: Annotated[float, msgspec.Meta(gt=0)] = 1800.0
    # Some models served by Ollama reject max_tokens, so it is dropped unless
    # this is set.
    keep_max_tokens: bool = False


def native_url(base_url: str) -> str:
    """Ollama's native API root: ``base_url`` without its ``/v1`` suffix."""
    return base_url.rstrip("/").removesuffix("/v1")


def _full_name(name: str) -> str:
    """``name`` as Ollama resolves it, in chats too: ``[host/][namespace/]model[:tag]``
    with ``registry.ollama.ai``, ``library`` and ``latest`` for what is left
    out, and case ignored."""
    path, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:  # no tag; a colon before a "/" is a host's port
        path, tag = name, "latest"
    parts = path.split("/")
    if len(parts) < 3:
        parts = ["registry.ollama.ai", *(["library"] if len(parts) == 1 else []), *parts]
    return f"{'/'.join(parts)}:{tag}".lower()


class OllamaProvider(OpenAICompatibleProvider):
    """Model management uses the one long-lived client with absolute URLs:
    the native API lives on the same host, so both share its connection pool.
    Each of its calls is an :func:`~gateway.upstream_call`, its reply's decoding
    included: a reply of the wrong shape is a failed call too, as on the chat path."""

    config_type = OllamaConfig
    config: OllamaConfig

    @property
    def native_url(self) -> str:
        return native_url(self.config.base_url)

    @property
    def pull_route(self) -> str:
        return f"POST /api/providers/{self.id}/pull"

    async def local_models(self) -> list[LocalModel]:
        with upstream_call(self.id):
            response = await self._native("GET", "/api/tags")
            return self._decode(decode_tags, response.content, "model list").models

    async def running_models(self) -> list[RunningModel]:
        with upstream_call(self.id):
            response = await self._native("GET", "/api/ps")
            return self._decode(decode_running, response.content, "list of running models").models

    async def show_model(self, name: str) -> ModelShow:
        with upstream_call(self.id):
            response = await self._native("POST", "/api/show", {"model": name})
            show = self._decode(decode_show, response.content, "model description")
        show.name = name
        return show

    async def delete_model(self, name: str) -> None:
        with upstream_call(self.id):
            try:
                await self._native("DELETE", "/api/delete", {"model": name})
            except ModelNotFound:
                raise ModelNotFound(
                    f"{self.name} has no model {name!r}; "
                    f"GET /api/providers/{self.id}/models lists the installed ones"
                ) from None

    async def pull(self, name: str) -> AsyncGenerator[PullProgress, None]:
        """Yield Ollama's progress lines up to and including ``success``.

        Raises :class:`PullFailed` for an error line or a stream that ends
        without ``success``, and ``UpstreamTimeout`` once ``pull_timeout`` is
        spent. Closing the generator closes the upstream request.

        Its upstream time is the wait for Ollama's reply and for each line,
        not the time the lines spend on their way to the client.
        """
        record_pull(self.id, name, "started")
        finished = False
        deadline = asyncio.get_running_loop().time() + self.config.pull_timeout
        try:
            with upstream_call(self.id):
                response = await self._open_pull(name, deadline)
        except BaseException:
            record_pull(self.id, name, "failed")
            raise
        try:
            lines = response.aiter_lines()
            while True:
                with upstream_call(self.id):
                    progress = await self._next_progress(name, lines, deadline, response.request)
                if progress.status == "success":
                    finished = True
                    record_pull(self.id, name, "succeeded")
                    yield progress
                    return
                yield progress
        finally:
            # A client that hangs up mid-pull counts as a failure too: the
            # model was not pulled for it.
            if not finished:
                record_pull(self.id, name, "failed")
            await response.aclose()

    async def _next_progress(self, name: str, lines: AsyncIterator[str], deadline: float,
                             request: httpx.Request) -> PullProgress:
        """The pull's next progress line, or the error that ends the pull."""
        try:
            while True:
                async with asyncio.timeout_at(deadline):
                    line = await anext(lines, None)
                if line is None:
                    raise PullFailed(
                        f"The pull of {name!r} broke off: {self.name} closed the progress "
                        "stream before reporting success. Pull again to resume it."
                    )
                if line.strip():
                    break
        except TimeoutError:
            raise self._pull_timeout(name) from None
        except httpx.HTTPError as exc:
            raise PullFailed(
                f"The pull of {name!r} broke off: the connection to {self.name} failed "
                f"({type(exc).__name__}). Pull again to resume it."
            ) from None
        progress = self._decode(decode_progress, line, "pull progress line")
        if progress.error is not None:
            raise PullFailed(self._pull_error(name, self.redacted(progress.error, request)))
        return progress

    async def _open_pull(self, name: str, deadline: float) -> httpx.Response:
        cfg = self.config
        # The deadline bounds the whole pull, so no per-read limit: Ollama is
        # silent while it verifies digests.
        request = self.client.build_request(
            "POST", self.native_url + "/api/pull", json={"model": name, "stream": True},
            headers=self.request_headers(),
            timeout=httpx.Timeout(None, connect=cfg.connect_timeout, pool=cfg.pool_timeout),
        )
        try:
            async with asyncio.timeout_at(deadline):
                response = await self.client.send(request, stream=True)
                if response.status_code < 400:
                    return response
                try:
                    await response.aread()
                finally:
                    await response.aclose()
        except TimeoutError:
            raise self._pull_timeout(name) from None
        except httpx.HTTPError as exc:
            raise self.transport_error(exc) from None
        raise self._pull_refused(name, response)

    async def list_models(self) -> list[ModelInfo]:
        # /api/tags rather than /v1/models, whose list is null, not empty,
        # on a server with no models.
        return [ModelInfo(id=m.name, owned_by=self.id, created=_unix_time(m.modified_at))
                for m in await self.local_models()]

    async def find_model(self, model: str) -> ModelInfo | None:
        wanted = _full_name(model)
        for info in await self.list_models():
            if _full_name(info.id) == wanted:
                return info
        return None

    def transport_error(self, exc: httpx.HTTPError) -> GatewayError:
        where = native_url(self.config.shown_base_url())
        if isinstance(exc, httpx.PoolTimeout):
            return super().transport_error(exc)  # a full pool, not a slow Ollama
        if isinstance(exc, httpx.ConnectError):
            return UpstreamUnreachable(
                f"{self.name} is not running at {where} — start it with `ollama serve`"
            )
        if isinstance(exc, httpx.ConnectTimeout):
            return UpstreamTimeout(
                f"{self.name} at {where} did not accept a connection within "
                f"{self.config.connect_timeout:g} s"
            )
        if isinstance(exc, httpx.TimeoutException):
            return UpstreamTimeout(
                f"{self.name} at {where} did not answer within {self.config.timeout:g} s; "
                f"a model that is still loading can take longer (raise `timeout` in "
                f"[providers.{self.id}])"
            )
        return super().transport_error(exc)

    def status_error(self, response: httpx.Response) -> GatewayError:
        status = response.status_code
        if status in (404, 405) and _error_message(response) is None:
            # Not Ollama's JSON error: gin's plain-text "404 page not found"
            # or "405 method not allowed" means base_url points elsewhere.
            return UpstreamError(
                f"{self.name} at {native_url(self.config.shown_base_url())} answered "
                f"{response.request.url.path} with HTTP {status} "
                f"({self.error_detail(response)[:200]}); "
                "check that `base_url` points at Ollama's /v1"
            )
        if status == 404:
            return ModelNotFound(
                f"{self.name}: {self.error_detail(response)} — pull it with {self.pull_route}"
            )
        # A request Ollama refuses (a model without tools, an invalid name)
        # is the client's to fix, not a failure a fallback could mend.
        return super().status_error(response)

    async def _native(self, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            response = await self.client.request(method, self.native_url + path, json=body,
                                                 headers=self.request_headers())
        except httpx.HTTPError as exc:
            raise self.transport_error(exc) from None
        if response.status_code >= 400:
            raise self.status_error(response)
        return response

    def _decode(self, decode: Any, data: bytes | str, what: str) -> Any:
        try:
            return decode(data)
        except (msgspec.DecodeError, RecursionError) as exc:
            raise BadOllamaReply(
                f"{self.name} sent a {what} the gateway cannot read: {exc}"
            ) from None

    def _pull_refused(self, name: str, response: httpx.Response) -> GatewayError:
        if response.status_code == 400 and _error_message(response) is not None:
            # Ollama checks the name before it starts: the client's to fix.
            return BadRequest(f"{self.name} cannot pull {name!r}: {self.error_detail(response)}")
        return self.status_error(response)

    def _pull_error(self, name: str, error: str) -> str:
        message = f"Pulling {name!r} failed: {self.name} reported: {error}"
        if "file does not exist" in error:
            # What Ollama says when the registry has no such model or tag.
            message += f". Check the name: the registry has no model {name!r}"
        return message

    def _pull_timeout(self, name: str) -> UpstreamTimeout:
        return UpstreamTimeout(
            f"Pulling {name!r} did not finish within {self.config.pull_timeout:g} s "
            f"(`pull_timeout` in [providers.{self.id}]). The download may continue in the "
            f"background; pull again to resume it or to follow its progress."
        )


def _error_message(response: httpx.Response) -> str | None:
    try:
        return decode_error(response.content).message
    except (msgspec.DecodeError, RecursionError):
        return None


def _unix_time(timestamp: str) -> int:
    try:
        return int(datetime.fromisoformat(timestamp).timestamp())
    except ValueError:
        return 0
