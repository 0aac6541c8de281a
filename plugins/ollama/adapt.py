"""Chat adaptations for Ollama's OpenAI-compatible layer."""

from gateway import ChatRequest, ChatResponse, Message, Usage

# Words-to-tokens ratio of the original design; close enough for English
# text with the common BPE vocabularies.
TOKENS_PER_WORD = 1.3


def adapt_max_tokens(request: ChatRequest, keep: bool) -> None:
    """Drop the output cap (some models reject it) unless the provider keeps it."""
    completion_cap = request.extra.pop("max_completion_tokens", None)
    if not keep:
        request.max_tokens = None
    elif request.max_tokens is None and isinstance(completion_cap, int):
        # Ollama ignores max_completion_tokens without a word; only
        # max_tokens caps the reply.
        request.max_tokens = completion_cap


def estimate_tokens(text: str) -> int:
    return round(len(text.split()) * TOKENS_PER_WORD)


def prompt_text(messages: list[Message]) -> str:
    parts: list[str] = []
    for message in messages:
        if isinstance(message.content, str):
            parts.append(message.content)
        elif message.content:
            parts.extend(p["text"] for p in message.content
                         if p.get("type") == "text" and isinstance(p.get("text"), str))
    return "\n".join(parts)


def estimate_usage(request: ChatRequest, response: ChatResponse) -> None:
    """Fill in usage when Ollama reported none, marked as estimated."""
    usage = response.usage
    # Ollama sends zeros, not nothing, when it lacks the counts.
    if usage is not None and usage.total_tokens > 0:
        return
    prompt = estimate_tokens(prompt_text(request.messages))
    completion = estimate_tokens(response.text)
    response.usage = Usage(prompt_tokens=prompt, completion_tokens=completion,
                           total_tokens=prompt + completion, estimated=True)
