"""An LLM provider gateway.

The names below are the public surface for plugin authors; everything else
in the package is internal.
"""

import pluggy

from .chat import ChatCall
from .error_handlers import documented_errors
from .errors import (
    BadRequest,
    BadUpstreamReply,
    Forbidden,
    GatewayError,
    ModelNotFound,
    RateLimited,
    Unauthorized,
    UnknownProvider,
    UpstreamBusy,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from .observability.context import current_request_id, upstream_call
from .observability.metrics import record_pull
from .openai_compat import OpenAICompatibleProvider
from .providers import Provider, ProviderConfig
from .types import ChatChunk, ChatRequest, ChatResponse, Choice, ChunkChoice, Delta, Message, ModelInfo, Usage

hookimpl = pluggy.HookimplMarker("gateway")

__all__ = [
    "hookimpl", "Provider", "ProviderConfig", "OpenAICompatibleProvider", "ChatCall",
    "ChatRequest", "ChatResponse", "ChatChunk", "Choice", "ChunkChoice", "Delta", "Message",
    "ModelInfo", "Usage", "GatewayError", "BadRequest", "UnknownProvider", "ModelNotFound",
    "RateLimited", "UpstreamError", "BadUpstreamReply", "UpstreamUnreachable", "UpstreamTimeout",
    "Unauthorized", "Forbidden", "UpstreamBusy", "current_request_id", "record_pull",
    "upstream_call", "documented_errors",
]
