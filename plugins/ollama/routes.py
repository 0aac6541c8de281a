"""Model management for every Ollama provider, under ``/api/providers/{provider_id}``.

One router serves all Ollama providers, with the id as a path parameter,
rather than one router per provider: Litestar's route trie does not
backtrack, so a static ``/api/providers/ollama/...`` prefix next to the
``{name:path}`` routes would hide the core's ``/api/providers/{provider_id}/check``
for that id. The handlers receive their provider as the ``ollama`` dependency.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Collection
from contextlib import aclosing

import msgspec
from litestar import Response, Router, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from litestar.response import Stream

from gateway import BadRequest, GatewayError, UnknownProvider, documented_errors

from .native import LocalModel, ModelShow, PullProgress, RunningModel
from .provider import OllamaProvider

_encode = msgspec.json.Encoder().encode


class ModelList(msgspec.Struct):
    models: list[LocalModel]
    total: int


class RunningList(msgspec.Struct):
    models: list[RunningModel]
    total: int


class PullRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    model: str
    stream: bool = False


class PullResult(msgspec.Struct, kw_only=True):
    success: bool
    message: str
    model: str
    status_log: list[PullProgress]


class PullSucceeded(msgspec.Struct, kw_only=True):
    """The last line of a streamed pull that worked."""

    status: str = "success"
    success: bool = True
    model: str
    message: str


class PullStopped(msgspec.Struct, kw_only=True):
    """The last line of a streamed pull that failed: the gateway's error body, in a line."""

    status: str = "error"
    success: bool = False
    model: str
    status_code: int
    error: str
    detail: str


class Deleted(msgspec.Struct, kw_only=True):
    success: bool
    model: str
    message: str


_PATH = "/api/providers"
# What every model route may answer besides its reply.
_FAILURES = {
    400: "The provider is not configured, not an Ollama provider, or disabled",
    500: "Ollama answered in a shape its API does not promise",
    502: "Ollama failed",
    503: "Ollama cannot be reached, or is too busy",
    504: "Ollama did not answer in time",
}
_NO_MODEL = {404: "Ollama has no such model installed"}


def ollama_router(providers: dict[str, OllamaProvider], configured: Collection[str]) -> Router:
    """The model routes of the Ollama ``providers``, among all ``configured`` ids."""
    async def ollama(provider_id: FromPath[str]) -> OllamaProvider:
        provider = providers.get(provider_id)
        if provider is None:
            what = "an Ollama provider" if provider_id in configured else "configured"
            raise UnknownProvider(
                f"Provider {provider_id!r} is not {what}; models can be managed "
                f"for: {', '.join(providers)}"
            )
        if not provider.config.enabled:
            raise UnknownProvider(
                f"Provider {provider_id!r} is disabled; set `enabled = true` in "
                f"[providers.{provider_id}] to manage its models"
            )
        return provider

    return Router(
        path="/api/providers/{provider_id:str}",
        route_handlers=[list_models, pull_model, show_model, delete_model, running_models],
        dependencies={"ollama": Provide(ollama)},
        tags=["ollama"],
    )


@get("/models", summary="Models installed in Ollama",
     responses=documented_errors(_PATH, _FAILURES))
async def list_models(ollama: NamedDependency[OllamaProvider]) -> ModelList:
    models = await ollama.local_models()
    return ModelList(models=models, total=len(models))


@post("/pull", status_code=200, opt={"scope": "admin"}, summary="Download a model into Ollama",
      responses=documented_errors(_PATH, {
          **_FAILURES, 400: "No model named, or a provider that is not an enabled Ollama one",
          500: "The pull failed (no such model in the registry, a full disk) or broke off, or "
               "Ollama answered in a shape its API does not promise"}),
      description="Replies once the pull is done, with the log of its steps. With "
      "`stream: true` the reply is NDJSON: Ollama's progress lines (`status`, `digest`, "
      "`total`, `completed`) as they arrive, then a last line with `success` true, or false "
      "with `status_code`, `error` and `detail`.")
async def pull_model(
    ollama: NamedDependency[OllamaProvider], data: JSONBody[PullRequest]
) -> Response[PullResult] | Stream:
    name = data.model.strip()
    if not name:
        raise BadRequest('model is required, e.g. {"model": "llama3.2:1b"}')
    progress = ollama.pull(name)
    if not data.stream:
        return Response(await _collect(name, progress))
    # Waiting for the first line means a pull that cannot start (Ollama
    # down, bad name) still gets its own status instead of a broken stream.
    first = await anext(progress)
    return Stream(_ndjson(name, first, progress), media_type="application/x-ndjson")


@get("/models/{name:path}", summary="One installed model's details",
     responses=documented_errors(_PATH, {**_FAILURES, **_NO_MODEL}))
async def show_model(ollama: NamedDependency[OllamaProvider], name: FromPath[str]) -> ModelShow:
    return await ollama.show_model(_model_name(name))


@delete("/models/{name:path}", status_code=200, opt={"scope": "admin"},
        summary="Delete an installed model",
        responses=documented_errors(_PATH, {**_FAILURES, **_NO_MODEL}))
async def delete_model(ollama: NamedDependency[OllamaProvider], name: FromPath[str]) -> Deleted:
    model = _model_name(name)
    await ollama.delete_model(model)
    return Deleted(success=True, model=model, message=f"Model '{model}' deleted")


@get("/running", summary="Models Ollama holds in memory",
     responses=documented_errors(_PATH, _FAILURES))
async def running_models(ollama: NamedDependency[OllamaProvider]) -> RunningList:
    models = await ollama.running_models()
    return RunningList(models=models, total=len(models))


def _model_name(path: str) -> str:
    # A :path parameter keeps its leading slash.
    return path.removeprefix("/")


def _succeeded(name: str) -> PullSucceeded:
    return PullSucceeded(model=name, message=f"Model '{name}' pulled successfully")


async def _collect(name: str, progress: AsyncGenerator[PullProgress, None]) -> PullResult:
    log: list[PullProgress] = []
    async with aclosing(progress):
        async for line in progress:
            # Ollama repeats a blob's line every ~60 ms while it downloads;
            # the log keeps the latest line of each step.
            if log and (log[-1].status, log[-1].digest) == (line.status, line.digest):
                log[-1] = line
            else:
                log.append(line)
    done = _succeeded(name)
    return PullResult(success=True, message=done.message, model=name, status_log=log)


async def _ndjson(
    name: str, first: PullProgress, rest: AsyncGenerator[PullProgress, None]
) -> AsyncIterator[bytes]:
    async with aclosing(rest):
        try:
            line = first
            while line.status != "success":
                yield _encode(line) + b"\n"
                line = await anext(rest)
        except GatewayError as exc:
            yield _encode(PullStopped(model=name, status_code=exc.status_code, error=exc.kind,
                                      detail=exc.message)) + b"\n"
            return
    yield _encode(_succeeded(name)) + b"\n"
