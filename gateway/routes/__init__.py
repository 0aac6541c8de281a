"""The core's own HTTP routes."""

from typing import Any

from ..chat import ChatService
from ..config import Config
from .chat import chat_route
from .health import health, health_head
from .metrics import metrics
from .openai_api import chat_completions_route, get_model, list_models
from .plugins import list_plugins
from .providers import check_provider, list_providers


def core_routes(config: Config, chat: ChatService) -> list[Any]:
    """The core's route handlers for an app with ``config``, chatting through ``chat``."""
    limit = config.server.max_body_bytes
    routes = [chat_route(chat, limit),
              chat_completions_route(chat, config.server.default_provider, limit),
              health, health_head, list_plugins, list_providers, check_provider, list_models,
              get_model]
    if config.metrics.enabled:
        routes.append(metrics)
    return routes
