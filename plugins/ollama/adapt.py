"""Chat adaptations for Ollama's OpenAI-compatible layer."""

from gateway import ChatCall, ChatResponse, Usage

# Words-to-tokens ratio of the original design; close enough for English
# text with the common BPE vocabularies.
TOKENS_PER_WORD = 1.3


def strip_max_tokens(call: ChatCall) -> None:
    # Some models served by Ollama reject max_tokens outright.
    call.request.max_tokens = None
    call.request.extra.pop("max_completion_tokens", None)


def estimate_tokens(text: str) -> int:
    return round(len(text.split()) * TOKENS_PER_WORD)


def estimate_usage(response: ChatResponse) -> None:
    """Fill in usage when Ollama reported none, marked as estimated."""
    usage = response.usage
    if usage is not None and usage.total_tokens > 0:
        return
    completion = estimate_tokens(response.text)
    response.usage = Usage(prompt_tokens=0, completion_tokens=completion,
                           total_tokens=completion, estimated=True)
