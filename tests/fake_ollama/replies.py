"""What the fake answers: scripted replies and per-API-key behaviour."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal

# Texts ollama.com / the local daemon use for these statuses (see PROTOCOLS.md section 3).
ERROR_TEXTS: dict[int, str] = {
    400: "bad request",
    401: "unauthorized",
    403: "this model requires a subscription",
    404: "not found",
    429: "you've reached your session usage limit, please wait or upgrade to continue",
    500: "internal server error",
    502: "bad gateway",
    503: "Server overloaded",
}

# Ollama's 429 texts, for tests that need the other flavours.
SESSION_LIMIT = ERROR_TEXTS[429]
WEEKLY_LIMIT = "you've reached your weekly usage limit, please wait or upgrade to continue"
CONCURRENCY_LIMIT = "timed out waiting for a concurrent request slot"


def error_text(status: int, error: str | None = None) -> str:
    if error:
        return error
    if status in ERROR_TEXTS:
        return ERROR_TEXTS[status]
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return "error"


# Word-ish tokens like a real tokenizer emits: leading whitespace sticks to the next word
# or punctuation mark, so joining the pieces gives back the exact text.
_TOKEN_RE = re.compile(r"\s*\w+|\s*[^\w\s]|\s+")


def split_words(text: str) -> list[str]:
    return _TOKEN_RE.findall(text) if text else []


def split_even(text: str, n: int) -> list[str]:
    """Split into n pieces of near-equal length (fewer when the text is shorter than n)."""
    if not text:
        return []
    n = max(1, min(n, len(text)))
    size, extra = divmod(len(text), n)
    out: list[str] = []
    pos = 0
    for i in range(n):
        step = size + (1 if i < extra else 0)
        out.append(text[pos : pos + step])
        pos += step
    return out


def _normalize_call(call: dict[str, Any]) -> dict[str, Any]:
    """Accept {"name", "arguments"} as well as the wire shape {"id"?, "function": {...}};
    arguments may be a dict or a JSON string (native Ollama sends an object)."""
    fn = call.get("function", call)
    args = fn.get("arguments", {})
    if isinstance(args, str):
        args = json.loads(args) if args.strip() else {}
    out: dict[str, Any] = {"name": fn["name"], "arguments": args}
    if call.get("id"):
        out["id"] = call["id"]
    return out


@dataclass(frozen=True, slots=True)
class ReplyPlan:
    """A Reply cut into the pieces every wire format needs (computed once per Reply)."""

    thinking: list[str]
    content: list[str]
    tool_calls: list[dict[str, Any]]  # {"name", "arguments", optional "id"}
    eval_count: int


@dataclass(frozen=True)
class Reply:
    """One scripted answer to a chat request (native /api/chat or /v1/chat/completions).

    Frozen because the split into chunks is cached on first use; build a new Reply
    (or dataclasses.replace) to change one.
    """

    content: str = ""
    thinking: str = ""
    # Each {"name": str, "arguments": dict}; an "id" key is used verbatim instead of a generated one.
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    # Older Ollama servers send tool calls without id and function.index (native API only).
    legacy_tool_calls: bool = False
    done_reason: Literal["stop", "length"] | str = "stop"
    # Non-200: answer this status with {"error": error} before any streaming.
    status: int = 200
    error: str = ""
    # After the content chunks: a final error line / SSE error event (HTTP status stays 200).
    mid_stream_error: str = ""
    # End the stream cleanly after the content chunks but without the done line / [DONE].
    truncate: bool = False
    # Close the TCP connection after the content chunks (no done line, no chunked terminator).
    drop_connection: bool = False
    first_token_delay: float = 0.0
    chunk_delay: float = 0.0
    tokens: int | None = None
    prompt_eval_count: int | None = None
    eval_count: int | None = None
    # Send the first chunk, then hang until the client goes away (stream: false: never answer).
    stall_after_first: bool = False
    # 200 with junk that is not JSON.
    garbage: bool = False

    def plan(self) -> ReplyPlan:
        cached: ReplyPlan | None = self.__dict__.get("_plan")
        if cached is not None:
            return cached
        content = split_even(self.content, self.tokens) if self.tokens else split_words(self.content)
        thinking = split_words(self.thinking)
        calls = [_normalize_call(c) for c in self.tool_calls]
        if self.eval_count is not None:
            evals = self.eval_count
        else:
            chars = len(self.content) + len(self.thinking)
            chars += sum(len(str(c.get("arguments", ""))) + len(c.get("name", "")) for c in calls)
            evals = max(1, len(content) + len(thinking), (chars + 3) // 4)
        plan = ReplyPlan(thinking=thinking, content=content, tool_calls=calls, eval_count=evals)
        object.__setattr__(self, "_plan", plan)  # frozen: the cache never goes stale
        return plan

    @property
    def is_error(self) -> bool:
        return self.status != 200

    @property
    def needs_time(self) -> bool:
        """True when the reply cannot be written in one go (delays, stalls)."""
        return bool(self.first_token_delay or self.chunk_delay or self.stall_after_first)


@dataclass
class KeyBehaviour:
    """How the fake treats requests carrying `Authorization: Bearer <key>`."""

    me: dict[str, Any] | None = None  # POST /api/me body; None -> generated from the key
    usage: dict[str, Any] | None = None  # GET /api/usage body; None -> default shape
    reply: Reply | None = None  # overrides the queue for this key's chat requests
    status: int | None = None  # every endpoint answers this status with {"error": ...}
    error: str | None = None  # message for `status`; None -> Ollama's usual text for it


DEFAULT_CONTENT = "Hello from fake Ollama."
