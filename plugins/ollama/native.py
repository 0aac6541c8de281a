"""Ollama's native API (``/api/*``): the reply shapes the gateway reads and passes on.

Ollama leaves out empty fields and keeps adding new ones, so everything but
the names the gateway needs is optional and unknown fields are ignored. The
same Structs are the model-management routes' replies: decoding drops what
the gateway does not document, encoding sends the rest unchanged.
"""

from __future__ import annotations

from typing import Any

import msgspec


class ModelDetails(msgspec.Struct, kw_only=True):
    format: str = ""
    family: str = ""
    families: list[str] | None = None
    parameter_size: str = ""
    quantization_level: str = ""


class LocalModel(msgspec.Struct, kw_only=True):
    """One entry of ``/api/tags``: an installed model."""

    name: str
    size: int = 0
    # Passed on as Ollama wrote it (RFC 3339 with nanoseconds).
    modified_at: str = ""
    digest: str = ""
    details: ModelDetails = msgspec.field(default_factory=ModelDetails)


class Tags(msgspec.Struct):
    models: list[LocalModel]


class RunningModel(msgspec.Struct, kw_only=True):
    """One entry of ``/api/ps``: a model loaded in memory."""

    name: str
    size: int = 0
    # The part of ``size`` held on the GPU; less than ``size`` means partly on the CPU.
    size_vram: int = 0
    digest: str = ""
    details: ModelDetails = msgspec.field(default_factory=ModelDetails)
    # When Ollama will unload it (its keep-alive deadline).
    expires_at: str = ""
    context_length: int | None = None


class Running(msgspec.Struct):
    models: list[RunningModel]


class ModelShow(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``/api/show``: one model's metadata; ``name`` is added by the gateway."""

    name: str = ""
    details: ModelDetails = msgspec.field(default_factory=ModelDetails)
    capabilities: list[str] = msgspec.field(default_factory=list)
    modified_at: str = ""
    parameters: str = ""
    template: str = ""
    system: str = ""
    license: str = ""
    modelfile: str = ""
    model_info: dict[str, Any] = msgspec.field(default_factory=dict)


class PullProgress(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One NDJSON line of ``/api/pull``.

    ``total`` is there from a blob's first line on, ``completed`` only once
    it is non-zero; a failing pull ends with a line holding only ``error``.
    """

    status: str = ""
    digest: str | None = None
    total: int | None = None
    completed: int | None = None
    error: str | None = None


class _OpenAIError(msgspec.Struct):
    message: str = ""


class ErrorBody(msgspec.Struct):
    """``{"error": "..."}`` from the native API, ``{"error": {"message": ...}}`` from ``/v1``."""

    error: str | _OpenAIError

    @property
    def message(self) -> str:
        return self.error if isinstance(self.error, str) else self.error.message


decode_tags = msgspec.json.Decoder(Tags).decode
decode_running = msgspec.json.Decoder(Running).decode
decode_show = msgspec.json.Decoder(ModelShow).decode
decode_progress = msgspec.json.Decoder(PullProgress).decode
decode_error = msgspec.json.Decoder(ErrorBody).decode
