"""The one scrubber every upstream error text passes before it is stored, logged or returned.

An upstream may echo what it was sent (a proxy's debug page, a misconfigured server quoting the
``Authorization`` header) or leak key material of its own. What goes: the upstream's own API key
wherever it appears, and anything shaped like a credential: a bearer token, an ``sk-`` key, or a
run of 32 or more letters and digits (Ollama keys, hex digests). Model names keep their hyphens and
colons, so they survive.
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"
_CREDENTIAL_SHAPES = re.compile(
    r"(?i:bearer)\s+[^\s\"',;]+"  # Authorization header values
    r"|\bsk-[A-Za-z0-9_\-]{8,}"  # OpenAI-style keys (also this gateway's own)
    r"|[A-Za-z0-9_+/=.]*[A-Za-z0-9]{32,}[A-Za-z0-9_+/=.]*"  # long opaque tokens
)


def scrub_secrets(text: str, *secrets: str | None) -> str:
    """``text`` without ``secrets`` and without anything shaped like a credential."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return _CREDENTIAL_SHAPES.sub(_replacement, text)


def _replacement(match: re.Match[str]) -> str:
    found = match.group(0)
    if found[:6].lower() == "bearer":
        return "Bearer " + REDACTED
    return REDACTED
