from gateway import OpenAICompatibleProvider, ProviderConfig


class OpenAIConfig(ProviderConfig, kw_only=True, forbid_unknown_fields=True):
    name: str = "OpenAI"
    model: str = "gpt-4o-mini"
    base_url: str = "https://api.openai.com/v1"


class OpenAIProvider(OpenAICompatibleProvider):
    config_type = OpenAIConfig
