"""The chat and model types that cross the provider interface.

They follow OpenAI's chat-completions wire format, the lingua franca of
model servers, so an OpenAI-compatible provider can decode upstream replies
straight into them and the ``/v1`` front door can send them back unchanged.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import msgspec

# Model names and provider ids end up in upstream URLs and in logs: control
# characters could forge log lines, and ".." could climb out of the URL path
# of upstreams that put the model name in it. The first look-ahead scans the
# whole name, where "$" would let a final newline through.
SAFE_NAME_PATTERN = r"^(?![\s\S]*[\x00-\x1f\x7f])(?!.*\.\.)"
SAFE_NAME_RULE = "1 to 256 characters, with no control characters and no '..'"
SafeName = Annotated[str, msgspec.Meta(
    min_length=1, max_length=256, pattern=SAFE_NAME_PATTERN, description=SAFE_NAME_RULE,
)]


# Upstreams written in C (llama.cpp, ...) hold it in a 32-bit int.
MaxTokens = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]


class Message(msgspec.Struct, omit_defaults=True):
    role: str
    # Text, or OpenAI's list of content parts (images, ...), or None when the
    # assistant only calls tools.
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    # Set by OpenAI when the model declined to answer.
    refusal: str | None = None
    # A reasoning model's thinking, under the name its server gives it
    # (DeepSeek and vLLM: reasoning_content; Ollama and OpenRouter: reasoning).
    reasoning_content: str | None = None
    reasoning: str | None = None


class ChatRequest(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One chat request as a provider receives it.

    ``model`` is the provider's own model name (no ``provider/`` prefix).
    ``extra`` holds any other OpenAI parameter (``top_p``, ``stop``, ``tools``,
    ...) which OpenAI-compatible providers forward as they are.
    """

    model: str
    messages: list[Message]
    stream: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class Usage(msgspec.Struct, kw_only=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    # True when the numbers are the gateway's estimate, not the provider's count.
    estimated: bool = False


class Choice(msgspec.Struct, kw_only=True):
    index: int = 0
    message: Message
    finish_reason: str | None = None
    # Only when the client asked for them (``logprobs: true``).
    logprobs: dict[str, Any] | None = None


class ChatResponse(msgspec.Struct, kw_only=True):
    id: str = ""
    object: str = "chat.completion"
    created: int = msgspec.field(default_factory=lambda: int(time.time()))
    model: str = ""
    choices: list[Choice]
    usage: Usage | None = None
    system_fingerprint: str | None = None

    @property
    def text(self) -> str:
        """The first choice's text, the answer in the common single-choice case."""
        if not self.choices:
            return ""
        content = self.choices[0].message.content
        return content if isinstance(content, str) else ""


class Delta(msgspec.Struct, omit_defaults=True):
    role: str | None = None
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    refusal: str | None = None
    # As in Message.
    reasoning_content: str | None = None
    reasoning: str | None = None


class ChunkChoice(msgspec.Struct, kw_only=True):
    index: int = 0
    delta: Delta = msgspec.field(default_factory=Delta)
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None


class ChatChunk(msgspec.Struct, kw_only=True):
    """One piece of a streamed reply; a chunk with no choices may carry ``usage``."""

    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = msgspec.field(default_factory=lambda: int(time.time()))
    model: str = ""
    choices: list[ChunkChoice] = msgspec.field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None

    @property
    def text(self) -> str:
        if not self.choices:
            return ""
        return self.choices[0].delta.content or ""


class ModelInfo(msgspec.Struct, kw_only=True):
    id: str
    owned_by: str = ""
    created: int = 0
