import httpx

from gateway import GatewayError, OpenAICompatibleProvider, ProviderConfig, UpstreamError


OPENAI_URL = "https://api.openai.com/v1"


class OpenAIConfig(ProviderConfig, kw_only=True, forbid_unknown_fields=True):
    model: str = "gpt-4o-mini"
    base_url: str = OPENAI_URL


class OpenAIProvider(OpenAICompatibleProvider):
    """OpenAI itself, or any server speaking its API (vLLM, LM Studio, Groq, ...)."""

    config_type = OpenAIConfig

    @property
    def name(self) -> str:
        # Messages say who failed: "OpenAI" for a Groq or a local vLLM
        # would send users to the wrong place.
        if self.config.name:
            return self.config.name
        if self.id == "openai" or self.config.base_url.startswith(OPENAI_URL):
            return "OpenAI"
        return self.id

    def status_error(self, response: httpx.Response) -> GatewayError:
        key = self.config.resolved_api_key()
        if response.status_code == 401 and not key:
            return UpstreamError(f"{self.name} wants an API key: set api_key_env (or api_key) "
                                 f"in [providers.{self.id}] of the gateway's config")
        return super().status_error(response)
