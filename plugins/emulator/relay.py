"""One streamed answer: upstream NDJSON -> Responses API events, kept alive and failed over.

The mode commits its HTTP status early (``commit_after_seconds``), so from then on everything the
client learns travels as events:

- ``response.created`` + ``response.in_progress`` go out at once, before the upstream answers;
- while the upstream is silent (model loading, a long prompt, a tool call Ollama withholds until it is
  complete) another ``response.in_progress`` follows every ``heartbeat_seconds``: Codex resets its idle
  timer only on parsed events, never on SSE comments. The upstream is read by a task of its own, so a
  heartbeat never cancels a read in progress;
- until the first output item, when the upstream fails, sends an error line or ends early, the relay
  raises ``UpstreamFailed`` and the core runs it again on the next candidate (the opening and the
  heartbeats are ``Provisional``: they do not stop failover); after that a failure becomes
  ``response.failed``;
- an ``APIError`` from the stream (every candidate failed after the commit, e.g. the failover plugin's
  usage-limit error) becomes ``response.failed`` with a code Codex acts on.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

from proxy.api import (
    HEARTBEAT,
    APIError,
    Provisional,
    RequestContext,
    UpstreamFailed,
    code_for_error,
    code_for_text,
    iter_line_batches,
    with_heartbeats,
)

from .stream_translation import UPSTREAM_ENDED_EARLY, ResponseEventStream, encode_sse

# Codes Codex (and the openai SDK) understand in `response.failed`.
KNOWN_CODES = frozenset(
    {"context_length_exceeded", "rate_limit_exceeded", "server_is_overloaded", "usage_limit_reached",
     "insufficient_quota", "invalid_prompt"}
)  # fmt: skip


def failed_code(error: APIError) -> str:
    """The `response.failed` code for an error that would have been an HTTP status before the commit."""
    if error.type == "usage_limit_reached" or error.code == "usage_limit_reached":
        return "usage_limit_reached"
    if error.code in KNOWN_CODES:
        return error.code  # type: ignore[return-value]
    return code_for_error(error) or "server_error"


def _sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(encode_sse(event) for event in events)


def _translate(events: ResponseEventStream, lines: list[bytes]) -> tuple[list[dict[str, Any]], str | None]:
    """The events for one batch of upstream lines, and why the attempt failed if it did (a line that
    is not a JSON object, or an error before the first output item). Stops at the final event."""
    out: list[dict[str, Any]] = []
    for line in lines:
        try:
            chunk = orjson.loads(line)
        except orjson.JSONDecodeError:
            chunk = None
        if not isinstance(chunk, dict):
            return out, f"upstream sent a line that is not a JSON object: {line[:200]!r}"
        if not events.has_output and chunk.get("error") is not None:
            said = chunk["error"]
            return out, str(said.get("message", said) if isinstance(said, dict) else said)
        out += events.feed(chunk)
        if events.finished:
            break
    return out, None


async def relay(
    ctx: RequestContext,
    upstream: AsyncIterator[bytes],
    events: ResponseEventStream,
    *,
    heartbeat_seconds: float,
    on_final: Callable[[], Awaitable[None]] | None = None,
    on_committed: Callable[[], None] | None = None,
) -> AsyncIterator[bytes]:
    """The client's SSE bytes for one attempt (see the module notes). ``events`` lives as long as
    the request, so a later attempt continues the Response the client has already seen opened.
    ``on_final`` runs once the final Response is known (``events.response``), before its event goes
    out; ``on_committed`` runs once, when the first output item goes out (no failover after that)."""

    async def ending(batch: list[dict[str, Any]]) -> bytes:
        # The final Response is known: keep it (store: true) before the client can ask for it.
        usage = events.usage
        if usage is not None:
            ctx.usage.input_tokens = usage["input_tokens"]
            ctx.usage.output_tokens = usage["output_tokens"]
        if events.status == "failed":
            ctx.status = 502
        if on_final is not None:
            await on_final()
        return _sse(batch)

    def out_bytes(batch: list[dict[str, Any]]) -> bytes:
        # Events before the first output item commit nothing: the next candidate can go on from there.
        nonlocal on_committed
        if not events.has_output:
            return Provisional(_sse(batch))
        if on_committed is not None:
            on_committed()
            on_committed = None
        return _sse(batch)

    # A stream waits for its next upstream chunk most of its life: while it waits, the generator
    # holds none of the events it already sent (nor the lines they came from).
    opening = events.opening()
    if opening:
        yield Provisional(_sse(opening))
    del opening
    failure: str | None = None
    try:
        batches = with_heartbeats(iter_line_batches(upstream), heartbeat_seconds)
        async with contextlib.aclosing(batches):
            async for lines in batches:
                if lines is HEARTBEAT:
                    yield Provisional(encode_sse(events.heartbeat()))
                    continue
                # Every line of one network chunk becomes one write to the client.
                out, failure = _translate(events, lines)
                if events.finished:
                    yield await ending(out)
                    return
                if out:
                    yield out_bytes(out)
                del out, lines
                if failure is not None:
                    break
        if failure is None:
            failure = UPSTREAM_ENDED_EARLY
    except UpstreamFailed as error:
        failure = error.message
    except APIError as error:
        # No candidate is left, after the commit. Same meaning as the HTTP status the client
        # would have got a moment earlier.
        batch = events.fail(error.message, failed_code(error))
        if error.extra:
            batch[-1]["response"]["error"].update(error.extra)
        yield await ending(batch)
        return
    if not events.has_output:
        raise UpstreamFailed(failure)  # the core tries the next candidate, or hands back the error
    yield await ending(events.fail(failure, code_for_text(failure) or "server_error"))
