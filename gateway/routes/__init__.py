"""The core's own HTTP routes."""

from .chat import chat
from .health import health
from .openai_api import chat_completions, get_model, list_models
from .plugins import list_plugins
from .providers import check_provider, list_providers

core_routes = [chat, health, list_plugins, list_providers, check_provider,
               chat_completions, list_models, get_model]
