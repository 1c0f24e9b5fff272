"""Bypass mode: ``POST /v1/chat/completions`` passed through to Ollama's OpenAI-compatible API.

The body goes upstream as the client sent it, except the model (filled in when missing, and
without a ``-cloud`` suffix for Ollama Cloud). Streams are relayed chunk by chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from proxy.context import ClientResponse, Endpoint, ModeSpec, RequestContext, UpstreamRequest
from proxy.dispatch import MidStreamError, UpstreamStream
from proxy.errors import InvalidRequest, UpstreamError
from proxy.hookspecs import hookimpl
from proxy.model_choice import chosen_model
from proxy.streams import sse_data

CHAT_COMPLETIONS = Endpoint("POST", "/v1/chat/completions")
_CUT_OFF = "The upstream stream ended before completion; the answer above is incomplete."


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


def _record_usage(ctx: RequestContext, usage: Any) -> None:
    if isinstance(usage, dict):
        ctx.usage.input_tokens = int(usage.get("prompt_tokens") or 0)
        ctx.usage.output_tokens = int(usage.get("completion_tokens") or 0)


def _sniff_stream_usage(ctx: RequestContext, chunk: bytes) -> None:
    """Usage arrives in one late event when the client asked for it; find it without re-parsing every chunk."""
    for line in chunk.split(b"\n"):
        if line.startswith(b"data: {") and b'"usage"' in line:
            try:
                _record_usage(ctx, orjson.loads(line[6:]).get("usage"))
            except orjson.JSONDecodeError:
                pass  # an event split across network chunks; usage is bookkeeping, not worth buffering


class BypassMode:
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
        return UpstreamRequest("/v1/chat/completions", body, stream=body.get("stream", False))

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
        sent = False
        tail = b""
        while True:
            try:
                async for chunk in stream:
                    if b'"usage"' in chunk:
                        _sniff_stream_usage(ctx, chunk)
                    sent = True
                    tail = chunk[-32:] if len(chunk) >= 32 else (tail + chunk)[-32:]
                    yield chunk
                if sent and not tail.rstrip().endswith(b"[DONE]"):
                    # Ollama ends a healthy stream with [DONE]; without it the answer was cut off
                    # (Ollama itself drops mid-stream errors on /v1), and the client must know.
                    ctx.status = 502
                    yield sse_data(UpstreamError(_CUT_OFF, code="upstream_stream_incomplete").body())
                return
            except MidStreamError as error:
                if sent:
                    # The status is sent: the failure becomes a last SSE event, in the shape
                    # Ollama itself uses for mid-stream errors, and the stream ends.
                    ctx.status = error.status
                    yield sse_data(error.body())
                    return
                # Nothing reached the client yet: another candidate may still serve it.
                if not (isinstance(stream, UpstreamStream) and await stream.failover(error.message)):
                    raise
