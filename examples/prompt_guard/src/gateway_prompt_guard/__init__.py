"""A prompt guard for the LLM gateway.

Masks e-mail addresses and API keys in every chat request before it goes
upstream, and tells the client how many it masked (never what) in the
``X-Prompt-Guard`` response header.
"""

from __future__ import annotations

from collections import Counter

from gateway import ChatCall, hookimpl

from .redact import redact_message

HEADER = "X-Prompt-Guard"


def report(found: Counter[str]) -> str:
    """The header value: ``redacted=2; kinds=email,api_key``, or ``redacted=0``."""
    total = sum(found.values())
    if not total:
        return "redacted=0"
    return f"redacted={total}; kinds={','.join(found)}"


@hookimpl
def gateway_chat_request(call: ChatCall) -> None:
    found: Counter[str] = Counter()
    for message in call.request.messages:
        found.update(redact_message(message))
    # Set here, not in gateway_chat_response: a streamed reply's headers go
    # out before its first chunk.
    call.response_headers[HEADER] = report(found)
