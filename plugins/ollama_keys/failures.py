"""What an Ollama Cloud answer means for the key that got it (the texts: the core's table,
``proxy.failures``; this adds what each kind means for the key).

    status / text                               kind          the request        the key
    429 "... reached your <window> usage limit"  usage_limit   next candidate     exhausted until the window resets
    429 "... concurrent request slot"            concurrency   next candidate     unchanged (transient)
    429 anything else                            concurrency   next candidate     unchanged
    401                                          invalid       next candidate     invalid until re-checked
    403 "... requires a subscription"            subscription  next candidate     unchanged (other models work)
    5xx, no answer at all                        server        next candidate once, then the error
    400, 404, other 4xx                          request       back to the client (another key fails alike)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from plugins.ollama_keys.windows import KNOWN_WINDOWS
from proxy.api import USAGE_LIMIT_REACHED, code_for_text

_USAGE_LIMIT = re.compile(r"(\w+)\s+usage\s+limit", re.IGNORECASE)


class Kind(str, Enum):
    USAGE_LIMIT = "usage_limit"
    CONCURRENCY = "concurrency"
    INVALID = "invalid"
    SUBSCRIPTION = "subscription"
    SERVER = "server"
    REQUEST = "request"


@dataclass(frozen=True, slots=True)
class Classified:
    kind: Kind
    # For usage limits: session | hourly | weekly | monthly | unknown.
    window: str | None = None


def classify(status: int | None, message: str) -> Classified:
    text = message.lower()
    if status is None or status >= 500:
        return Classified(Kind.SERVER)
    if status == 429:
        if code_for_text(message) == USAGE_LIMIT_REACHED:
            match = _USAGE_LIMIT.search(text)
            window = match.group(1).lower() if match else "unknown"
            return Classified(Kind.USAGE_LIMIT, window if window in KNOWN_WINDOWS else "unknown")
        return Classified(Kind.CONCURRENCY)
    if status == 401:
        return Classified(Kind.INVALID)
    if status == 403 and "subscription" in text:
        return Classified(Kind.SUBSCRIPTION)
    return Classified(Kind.REQUEST)
