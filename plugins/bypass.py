"""Bypass mode: ``POST /v1/chat/completions`` passed through to Ollama's OpenAI-compatible API.

The body goes upstream as the client sent it, except the model (filled in when missing, and
without a ``-cloud`` suffix for Ollama Cloud) and, on streams, ``stream_options.include_usage``:
always asked for, so every stream's tokens are counted. Streams are relayed chunk by chunk, byte
for byte, except the usage-only event when the client did not ask for it, and an SSE comment
(``: keepalive``) while the upstream is silent for ``keepalive_seconds``.

Settings, ``[plugins.bypass]``: ``keepalive_seconds`` (default 15; 0 switches keepalives off).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import orjson
from sanic import Sanic

from config.settings import Settings, SettingsError
from proxy.api import (
    HEARTBEAT,
    ClientResponse,
    Endpoint,
    InvalidRequest,
    ModeSpec,
    Provisional,
    RequestContext,
    UpstreamError,
    UpstreamFailed,
    UpstreamRequest,
    chosen_model,
    hookimpl,
    sse_data,
    with_heartbeats,
)

NAME = "bypass"
CHAT_COMPLETIONS = Endpoint("POST", "/v1/chat/completions")
KEEPALIVE = Provisional(b": keepalive\n\n")  # does not commit the answer: failover stays possible
DEFAULT_KEEPALIVE_SECONDS = 15.0
_CUT_OFF = "The upstream stream ended before completion; the answer above is incomplete."
_HIDE_USAGE = "bypass.hide_usage"
_EVENT_END = re.compile(rb"\r?\n\r?\n")
# A partial event longer than this cannot be Ollama's usage event (a few hundred bytes): it is
# passed on at once rather than held back.
_MAX_HELD = 8192


# Integer fields and the range each may take (OpenAI's where it states one). Ollama decodes them
# into Go ints, so anything beyond the range is an error at best; 1e308 is refused here, by name.
_INTEGER_FIELDS: dict[str, tuple[int, int]] = {
    "max_tokens": (1, 2**31 - 1),
    "max_completion_tokens": (1, 2**31 - 1),
    "n": (1, 128),
    "top_logprobs": (0, 20),
    "seed": (-(2**63), 2**63 - 1),
}


def _check_integers(body: dict[str, Any]) -> None:
    for name, (low, high) in _INTEGER_FIELDS.items():
        value = body.get(name)
        if value is None:
            continue
        integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not integral or not low <= value <= high:
            shown = orjson.dumps(value)[:40].decode(errors="replace")
            raise InvalidRequest(f"'{name}' must be an integer from {low} to {high}, not {shown}.", param=name)


def validate_chat_request(body: dict[str, Any]) -> None:
    """Reject what Ollama would reject anyway, with a message that says exactly what is wrong."""
    if "messages" not in body:
        raise InvalidRequest("'messages' is required: a list of chat messages.", param="messages")
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty list of chat messages.", param="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(f"messages[{index}] must be an object.", param=f"messages[{index}]")
        if not isinstance(message.get("role"), str):
            raise InvalidRequest(
                f"messages[{index}].role is required and must be a string.", param=f"messages[{index}].role"
            )
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise InvalidRequest("'model' must be a string.", param="model")
    if not isinstance(body.get("stream", False), bool):
        raise InvalidRequest("'stream' must be true or false.", param="stream")
    if body.get("tools") is not None and not isinstance(body["tools"], list):
        raise InvalidRequest("'tools' must be a list.", param="tools")
    _check_integers(body)
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise InvalidRequest("'stream_options' must be an object.", param="stream_options")
        if not isinstance(options.get("include_usage", False), bool):
            raise InvalidRequest(
                "'stream_options.include_usage' must be true or false.", param="stream_options.include_usage"
            )


def ask_for_usage(ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
    """The stream's body with usage asked for; notes in ``ctx`` whether the client wants to see it."""
    options = body.get("stream_options") or {}
    if options.get("include_usage") is True:
        return body
    ctx.meta[_HIDE_USAGE] = True
    return {**body, "stream_options": {**options, "include_usage": True}}


def _record_usage(ctx: RequestContext, usage: Any) -> None:
    if isinstance(usage, dict):
        try:
            input_tokens = int(usage.get("prompt_tokens") or 0)
            output_tokens = int(usage.get("completion_tokens") or 0)
        except (TypeError, ValueError):
            return  # bookkeeping must never break the answer the client is reading
        ctx.usage.input_tokens, ctx.usage.output_tokens = input_tokens, output_tokens


def _events_end(data: bytes) -> int:
    """Where the last complete SSE event in ``data`` ends; 0 when there is none."""
    lf = data.rfind(b"\n\n")
    crlf = data.rfind(b"\r\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)


def _event_json(event: bytes) -> Any:
    """The parsed data of one SSE event, or None."""
    data = [line[5:].removeprefix(b" ") for line in event.splitlines() if line.startswith(b"data:")]
    try:
        return orjson.loads(b"\n".join(data)) if data else None
    except orjson.JSONDecodeError:
        return None


class StreamUsage:
    """Finds the usage event of a chat-completions stream, records it and, when the client did not
    ask for it, cuts it out; every other byte passes as the upstream sent it.

    Only a chunk that mentions ``"usage"`` (a JSON key; inside a string the quotes would be escaped)
    or ends inside an event takes the slow path. A partial event at the end of a chunk waits for
    its rest, so the usage event is seen whole and a keepalive never lands inside an event.
    """

    __slots__ = ("at_boundary", "ctx", "held", "hide")

    def __init__(self, ctx: RequestContext, hide: bool) -> None:
        self.ctx = ctx
        self.hide = hide
        self.held = b""
        self.at_boundary = True  # everything passed on so far ends with a complete event

    def feed(self, chunk: bytes) -> bytes:
        """The bytes of ``chunk`` (and of what was held) to pass on now."""
        if self.held:
            chunk, self.held = self.held + chunk, b""
        elif chunk.endswith(b"\n\n") and b'"usage"' not in chunk:
            self.at_boundary = True
            return chunk  # the common case: whole events, none of them the usage event
        end = _events_end(chunk)
        if end < len(chunk):
            if len(chunk) - end <= _MAX_HELD:
                chunk, self.held = chunk[:end], chunk[end:]
            else:
                self.at_boundary = False
                return self._usage(chunk) if b'"usage"' in chunk[:end] else chunk
        if chunk:
            self.at_boundary = True
        return self._usage(chunk) if b'"usage"' in chunk else chunk

    def finish(self) -> bytes:
        """What is still held when the upstream ends (an event without its closing blank line)."""
        rest, self.held = self.held, b""
        return self._usage(rest) if b'"usage"' in rest else rest

    def _usage(self, data: bytes) -> bytes:
        kept: list[bytes] = []
        start = 0
        for match in _EVENT_END.finditer(data):
            kept.append(self._event(data[start : match.end()]))
            start = match.end()
        if start < len(data):
            kept.append(self._event(data[start:]))
        return b"".join(kept)

    def _event(self, event: bytes) -> bytes:
        if b'"usage"' not in event:
            return event
        parsed = _event_json(event)
        if not isinstance(parsed, dict) or not isinstance(parsed.get("usage"), dict):
            return event
        _record_usage(self.ctx, parsed["usage"])
        return b"" if self.hide and parsed.get("choices") == [] else event


def keepalive_seconds(settings: Settings) -> float:
    value = settings.plugin(NAME).get("keepalive_seconds", DEFAULT_KEEPALIVE_SECONDS)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise SettingsError(f"plugins.bypass.keepalive_seconds must be a number of at least 0, not {value!r}")
    return float(value)


class BypassMode:
    def __init__(self) -> None:
        self.keepalive_seconds = DEFAULT_KEEPALIVE_SECONDS

    @hookimpl
    def register_routes(self, app: Sanic, settings: Settings) -> None:
        self.keepalive_seconds = keepalive_seconds(settings)

    @hookimpl
    def register_modes(self) -> list[ModeSpec]:
        return [
            ModeSpec(
                name="bypass",
                endpoints=(CHAT_COMPLETIONS,),
                description="Raw Ollama-compatible chat completions, passed through (POST /v1/chat/completions).",
                plugin=self,
            )
        ]

    @hookimpl
    def transform_request(self, ctx: RequestContext) -> UpstreamRequest | None:
        if ctx.endpoint != CHAT_COMPLETIONS:
            return None
        body = ctx.body
        assert body is not None
        validate_chat_request(body)
        if not body.get("model"):
            body = {**body, "model": chosen_model(ctx)}
        stream = body.get("stream", False)
        if stream:
            body = ask_for_usage(ctx, body)
        return UpstreamRequest("/v1/chat/completions", body, stream=stream)

    @hookimpl
    def transform_response(self, ctx: RequestContext, status: int, body: bytes) -> ClientResponse:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            # A proxy's HTML page or a broken upstream: the client expects a chat completion.
            label = ctx.upstream.label if ctx.upstream else "?"
            error = UpstreamError(f"upstream {label} answered {status} with a body that is not a JSON object",
                                  code="upstream_error")
            ctx.status = error.status
            return ClientResponse(error.status, error.body())
        _record_usage(ctx, parsed.get("usage"))
        return ClientResponse(status, body)

    @hookimpl
    def stream_transform_response(self, ctx: RequestContext, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        return self._relay(ctx, stream)

    async def _relay(self, ctx: RequestContext, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """One attempt's bytes for the client. Before the first byte of an answer, a failure raises
        ``UpstreamFailed`` and the core moves on to the next candidate; keepalives do not count."""
        usage = StreamUsage(ctx, hide=ctx.meta.get(_HIDE_USAGE, False))
        interval = self.keepalive_seconds
        sent = False  # upstream bytes reached the client: a failure is the client's to see
        tail = b""
        try:
            # Heartbeats come from a reader task (see with_heartbeats); the first one is what
            # commits the status, so a failure before it is still a proper HTTP error.
            chunks = with_heartbeats(stream, interval) if interval else stream
            async with contextlib.aclosing(chunks):  # type: ignore[type-var]
                async for chunk in chunks:
                    if chunk is HEARTBEAT:
                        if usage.at_boundary:
                            yield KEEPALIVE
                        continue
                    out = usage.feed(chunk)
                    if out:
                        sent = True
                        tail = out[-32:] if len(out) >= 32 else (tail + out)[-32:]
                        yield out
            rest = usage.finish()
            if rest:
                sent = True
                tail = (tail + rest)[-32:]
                yield rest
        except UpstreamFailed as error:
            if not sent:
                raise
            # The status is sent: the failure becomes a last SSE event, in the shape Ollama itself
            # uses for mid-stream errors, and the stream ends.
            ctx.status = error.status
            yield sse_data(error.body())
            return
        if not sent:
            # Not a byte of an answer: as good as a failed attempt.
            label = ctx.upstream.label if ctx.upstream else "?"
            raise UpstreamFailed(f"upstream {label} ended the stream without an answer")
        if not tail.rstrip().endswith(b"[DONE]"):
            # Ollama ends a healthy stream with [DONE]; without it the answer was cut off (Ollama
            # itself drops mid-stream errors on /v1), and the client must know.
            ctx.status = 502
            yield sse_data(UpstreamError(_CUT_OFF, code="upstream_stream_incomplete").body())
