"""Finding e-mail addresses and API keys in chat messages and masking them.

The guard runs on every prompt, so a pattern that fires on ordinary prose
would quietly damage what people ask. Each key pattern is therefore anchored
on something a secret has and prose does not: a vendor's key prefix, or a
secret-sounding label followed by ``:`` or ``=``; and the random part must
contain a digit, which generated keys do and hyphenated words do not.
"""

from __future__ import annotations

import re
from collections import Counter

from gateway import Message

EMAIL = "email"
API_KEY = "api_key"

MASKS = {EMAIL: "[REDACTED_EMAIL]", API_KEY: "[REDACTED_API_KEY]"}

# The lookbehind makes a long run of word characters cost one attempt, not
# one per position (which would be quadratic on a pasted blob).
_EMAIL = r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}\b"

_DIGIT_AHEAD = r"(?=[A-Za-z_-]*[0-9])"

_VENDOR_KEY = r"\b(?:" + "|".join([
    rf"sk-{_DIGIT_AHEAD}[A-Za-z0-9_-]{{20,}}",  # OpenAI (sk-, sk-proj-), Anthropic (sk-ant-)
    r"gsk_[A-Za-z0-9]{20,}",                    # Groq
    r"(?:AKIA|ASIA)[A-Z0-9]{16}\b",             # AWS access key ids
    r"gh[pousr]_[A-Za-z0-9]{36,}",              # GitHub tokens
    r"github_pat_[A-Za-z0-9_]{22,}",
    r"AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])",  # Google API keys
]) + ")"

# "api_key=...", "secret: ...", '"token": "..."' (JSON, .env, YAML) and HTTP's
# "Bearer ...": the label stays, only the value is masked.
_LABEL = (
    r"(?i:\b(?:api[ _-]?key|access[ _-]?key|secret[ _-]?key|client[ _-]?secret"
    r"|access[ _-]?token|auth[ _-]?token|token|secret)\b[\"']?\s*[:=]\s*[\"']?"
    r"|\bbearer\s+)"
)
# 20+ characters of hex/base64(url)/JWT alphabet with at least one digit and
# one letter, not ending in a full stop that belongs to the sentence.
_VALUE = (
    r"(?=[A-Za-z+/_.=-]*[0-9])(?=[0-9+/_.=-]*[A-Za-z])"
    r"[A-Za-z0-9+/_.=-]{19,}[A-Za-z0-9+/_=-]"
)

_PATTERN = re.compile(
    rf"(?P<email>{_EMAIL})|(?P<key>{_VENDOR_KEY})|(?P<label>{_LABEL})(?P<value>{_VALUE})"
)


def redact(text: str) -> tuple[str, Counter[str]]:
    """``text`` with every e-mail address and API key masked, and how many of each kind."""
    found: Counter[str] = Counter()

    def mask(match: re.Match[str]) -> str:
        kind = EMAIL if match["email"] else API_KEY
        found[kind] += 1
        return (match["label"] or "") + MASKS[kind]

    return _PATTERN.sub(mask, text), found


def redact_message(message: Message) -> Counter[str]:
    """Mask ``message``'s text in place, whether a string or OpenAI content parts."""
    found: Counter[str] = Counter()
    if isinstance(message.content, str):
        message.content, found = redact(message.content)
        return found
    for part in message.content or []:
        if part.get("type") == "text" and isinstance(part.get("text"), str):
            part["text"], kinds = redact(part["text"])
            found.update(kinds)
    return found
