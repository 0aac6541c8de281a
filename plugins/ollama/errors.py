"""The Ollama plugin's own errors: model-management failures the contract makes a 500.

A broken reply on the chat path stays the core's 502; on the model-management
routes the gateway is Ollama's only client, so there a broken reply or a
failed pull is the gateway's failure to do what was asked.
"""

from gateway import BadUpstreamReply, UpstreamError


class BadOllamaReply(BadUpstreamReply):
    """Ollama answered a model-management call in a shape its API does not promise."""

    status_code = 500


class PullFailed(UpstreamError):
    """Ollama reported that a pull failed, or its progress stream broke off."""

    status_code = 500
    kind = "pull_failed"
