from gateway import OpenAICompatibleProvider, ProviderConfig


class OllamaConfig(ProviderConfig, kw_only=True, forbid_unknown_fields=True):
    name: str = "Ollama"
    enabled: bool = False
    model: str = "llama3.2"
    base_url: str = "http://localhost:11434/v1"
    # A local model that is still loading sends nothing for a long while.
    timeout: float = 300.0


class OllamaProvider(OpenAICompatibleProvider):
    config_type = OllamaConfig
