"""Refuse a prompt that clearly cannot fit the model's context window, so the client compacts.

A self-hosted Ollama cuts an oversized prompt from the front without a word (before 0.12.6 always;
later versions only when asked to, and the emulator asks them not to: ``truncate: false``), and the
model then answers a conversation it only half saw. Codex instead compacts its history when told
``context_length_exceeded``.

Nothing is tokenized. The rule: a prompt's tokens are estimated as the bytes of its serialized chat
body, images left out, divided by ``BYTES_PER_TOKEN``; it is refused only when that estimate exceeds
the window by more than ``MARGIN`` (so only beyond six bytes of text per token of the window, more
than any real text packs into a token). The window is the one the catalog advertises, taken from
what is cached (``codex_setup.known_context_window``): unknown means no refusal, never a round trip.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.api import APIError, Upstream

BYTES_PER_TOKEN = 4
MARGIN = 1.5
# What translating a Responses request may add to its size (tool wrappers, notes for custom tools).
_TRANSLATION_SLACK_BYTES = 16_384


def limit_bytes(window: int) -> int:
    """The largest prompt (bytes of text) accepted for a window of ``window`` tokens."""
    return int(window * MARGIN * BYTES_PER_TOKEN)


def prompt_bytes(chat: dict[str, Any]) -> int:
    """The size of a native chat body without its images (which a model sees as few tokens)."""
    images = sum(
        len(image)
        for message in chat.get("messages") or ()
        for image in message.get("images") or ()
        if isinstance(image, (str, bytes))
    )
    return len(orjson.dumps(chat)) - images


def surely_fits(client_body_bytes: int, window: int) -> bool:
    """True when the client's own body is small enough that its translation cannot be refused.

    Translating never doubles a Responses body, so most requests skip serializing the chat twice.
    """
    return client_body_bytes * 2 + _TRANSLATION_SLACK_BYTES <= limit_bytes(window)


def context_exceeded(size: int, window: int, upstream: Upstream, model: str) -> APIError | None:
    """The client's error when ``size`` bytes of prompt clearly cannot fit ``window`` tokens, else None."""
    if size <= limit_bytes(window):
        return None
    hint = "shorten the input or compact the conversation"
    if upstream.chat_option("num_ctx"):
        hint += " (the server's upstream.num_ctx sets this window)"
    return APIError(
        f"The input is about {size // BYTES_PER_TOKEN:,} tokens (estimated from its size), more than the "
        f"{window:,}-token context window model {model} runs with on upstream {upstream.label}: {hint}.",
        status=400, type="invalid_request_error", code="context_length_exceeded", param="input",
    )  # fmt: skip
