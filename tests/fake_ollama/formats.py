"""Ollama's wire formats: a Reply rendered as native NDJSON / JSON or as OpenAI-compatible SSE / JSON.

Shapes follow ollama/ollama api/types.go (ChatResponse, Message, ToolCall, Metrics),
openai/openai.go (ChatCompletion, ChatCompletionChunk, NewError) and middleware/openai.go
(ChatWriter: role only on the first chunk, empty trailer skipped, finish chunk with `delta: {}`,
usage chunk with `choices: []`, `data: [DONE]`).

Speed: the JSON of each message/delta is serialised once per Reply and cached on it; lines are
then assembled with bytes %-formatting, keeping Go's field order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from .replies import Reply, ReplyPlan

NDJSON = "application/x-ndjson"
JSON_GIN = "application/json; charset=utf-8"  # gin's c.JSON
JSON_PLAIN = "application/json"  # the OpenAI middleware sets this itself
SSE = "text/event-stream"
TEXT = "text/plain; charset=utf-8"
TEXT_GIN_404 = "text/plain"

_dumps = orjson.dumps


@dataclass(slots=True)
class Answer:
    """Bytes to send for one request.

    `body` -> one response with Content-Length; `parts` -> chunked stream, one HTTP chunk each.
    `drop` -> after `parts` (or instead of a body) close the TCP connection without ending cleanly.
    """

    status: int
    content_type: str
    body: bytes | None = None
    parts: list[bytes] | None = None
    drop: bool = False


class Ctx:
    """Per-request facts the formats need."""

    __slots__ = ("include_usage", "model", "next_call_id", "now", "openai_id", "prompt_tokens")

    def __init__(
        self,
        model: str,
        prompt_tokens: int,
        next_call_id: Callable[[], str],
        include_usage: bool = False,
        openai_id: str = "chatcmpl-0",
    ) -> None:
        self.model = model
        self.prompt_tokens = prompt_tokens
        self.next_call_id = next_call_id
        self.include_usage = include_usage
        self.openai_id = openai_id
        self.now = time.time()

    @property
    def created_at(self) -> str:
        return rfc3339nano(self.now)

    @property
    def created(self) -> int:
        return int(self.now)


_ts_cache: list[Any] = [-1, ""]


def rfc3339nano(now: float) -> str:
    """Go's time.Time JSON form in UTC, e.g. 2025-08-05T10:00:00.12345Z (trailing zeros trimmed)."""
    sec = int(now)
    if _ts_cache[0] != sec:
        _ts_cache[0], _ts_cache[1] = sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    micros = int((now - sec) * 1_000_000)
    if micros % 10:  # the common case: nothing to trim
        return f"{_ts_cache[1]}.{micros:06d}Z"
    frac = f"{micros:06d}".rstrip("0")
    return f"{_ts_cache[1]}.{frac}Z" if frac else f"{_ts_cache[1]}Z"


# ---------------------------------------------------------------- errors


def native_error(status: int, message: str) -> Answer:
    return Answer(status, JSON_GIN, _dumps({"error": message}))


def openai_error_body(status: int, message: str) -> dict[str, Any]:
    # openai.NewError: the type depends on the status only; code and param are always null.
    etype = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    return {"error": {"message": message, "type": etype, "param": None, "code": None}}


def openai_error(status: int, message: str) -> Answer:
    # json.NewEncoder(...).Encode appends a newline.
    return Answer(status, JSON_PLAIN, _dumps(openai_error_body(status, message)) + b"\n")


# ---------------------------------------------------------------- per-Reply cached JSON


@dataclass(frozen=True, slots=True)
class _Pieces:
    native_chunks: list[bytes]  # message JSON of each thinking/content chunk
    native_full: bytes  # message JSON of the whole answer, without tool calls
    openai_deltas: list[bytes]  # delta JSON of each thinking/content chunk; [0] carries the role
    openai_full: bytes  # message JSON of the whole answer, without tool calls


def _pieces(reply: Reply, plan: ReplyPlan) -> _Pieces:
    cached: _Pieces | None = reply.__dict__.get("_pieces")
    if cached is not None:
        return cached
    native = [_dumps({"role": "assistant", "content": "", "thinking": t}) for t in plan.thinking]
    native += [_dumps({"role": "assistant", "content": c}) for c in plan.content]
    deltas: list[dict[str, Any]] = [{"content": "", "reasoning": t} for t in plan.thinking]
    deltas += [{"content": c} for c in plan.content]
    if deltas:
        deltas[0] = {"role": "assistant", **deltas[0]}
    full: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.thinking:
        full["thinking"] = reply.thinking
    ofull: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.thinking:
        ofull["reasoning"] = reply.thinking
    pieces = _Pieces(native, _dumps(full), [_dumps(d) for d in deltas], _dumps(ofull))
    object.__setattr__(reply, "_pieces", pieces)  # Reply is frozen: the cache never goes stale
    return pieces


def _with_calls(message_json: bytes, calls: list[dict[str, Any]]) -> bytes:
    # Append "tool_calls" as the message's last member, where Go's struct order puts it.
    return message_json[:-1] + b',"tool_calls":' + _dumps(calls) + b"}"


def _native_calls(plan: ReplyPlan, legacy: bool, next_id: Callable[[], str]) -> list[dict[str, Any]]:
    if legacy:
        return [
            {"function": {"name": c["name"], "arguments": c.get("arguments", {})}} for c in plan.tool_calls
        ]
    return [
        {
            "id": c.get("id") or next_id(),
            "function": {"index": i, "name": c["name"], "arguments": c.get("arguments", {})},
        }
        for i, c in enumerate(plan.tool_calls)
    ]


def _openai_calls(native_calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # openai.ToToolCalls: arguments become a JSON string; id/index copied ("" / 0 when absent).
    return [
        {
            "id": c.get("id", ""),
            "index": c["function"].get("index", 0),
            "type": "function",
            "function": {
                "name": c["function"]["name"],
                "arguments": _dumps(c["function"]["arguments"]).decode(),
            },
        }
        for c in native_calls
    ]


def _counts(reply: Reply, plan: ReplyPlan, ctx: Ctx) -> tuple[int, int]:
    prompt = reply.prompt_eval_count if reply.prompt_eval_count is not None else ctx.prompt_tokens
    return prompt, plan.eval_count


def _done_tail(reply: Reply, prompt: int, evals: int) -> bytes:
    """`"done":true,...metrics}` of a done response (Metrics are omitempty in Go)."""
    prompt_ns = prompt * 40_000  # ~25k tokens/s prompt processing
    eval_ns = evals * 10_000_000  # ~100 tokens/s generation
    load_ns = 1_500_000
    out = b'"done":true,"done_reason":%b,"total_duration":%d,"load_duration":%d' % (
        _dumps(reply.done_reason),
        load_ns + prompt_ns + eval_ns,
        load_ns,
    )
    if prompt:
        out += b',"prompt_eval_count":%d' % prompt
    if prompt_ns:
        out += b',"prompt_eval_duration":%d' % prompt_ns
    if evals:
        out += b',"eval_count":%d' % evals
    if eval_ns:
        out += b',"eval_duration":%d' % eval_ns
    return out + b"}"


_GARBAGE_NDJSON = [
    b"<html><head><title>502 Bad Gateway</title></head></html>\n",
    b"this is not json\n",
    b'{"model": "trunc\n',
]
_GARBAGE_SSE = [b"data: this is not json\n\n", b'data: {"id": "trunc\n\n', b"<html>oops</html>\n\n"]
_GARBAGE_BODY = b"<html><head><title>502 Bad Gateway</title></head></html>\nthis is not json\n"


# ---------------------------------------------------------------- native /api/chat

_LINE = b'{"model":%b,"created_at":"%b","message":%b,"done":false}\n'


def native_chat(reply: Reply, ctx: Ctx, stream: bool) -> Answer:
    if reply.garbage:
        if stream:
            return Answer(200, NDJSON, parts=list(_GARBAGE_NDJSON))
        return Answer(200, JSON_GIN, _GARBAGE_BODY)
    plan = reply.plan()
    pieces = _pieces(reply, plan)
    calls = _native_calls(plan, reply.legacy_tool_calls, ctx.next_call_id) if plan.tool_calls else None
    model = _dumps(ctx.model)
    ts = ctx.created_at.encode()

    if not stream:
        if reply.drop_connection:
            return Answer(200, JSON_GIN, drop=True)
        if reply.mid_stream_error:
            # writeChatResponse turns a streamed error into the whole answer, status 500.
            return native_error(500, reply.mid_stream_error)
        message = _with_calls(pieces.native_full, calls) if calls else pieces.native_full
        head = b'{"model":%b,"created_at":"%b","message":%b,' % (model, ts, message)
        if reply.truncate:
            return Answer(200, JSON_GIN, head + b'"done":false}')  # the last response was not a done one
        return Answer(200, JSON_GIN, head + _done_tail(reply, *_counts(reply, plan, ctx)))

    parts = [_LINE % (model, ts, m) for m in pieces.native_chunks]
    if calls:
        parts.append(_LINE % (model, ts, _with_calls(b'{"role":"assistant","content":""}', calls)))
    if reply.mid_stream_error:
        parts.append(_dumps({"error": reply.mid_stream_error}) + b"\n")
    elif not (reply.truncate or reply.drop_connection):
        parts.append(
            b'{"model":%b,"created_at":"%b","message":{"role":"assistant","content":""},%b\n'
            % (model, ts, _done_tail(reply, *_counts(reply, plan, ctx)))
        )
    return Answer(200, NDJSON, parts=parts, drop=reply.drop_connection)


def native_load(model: str, unload: bool) -> Answer:
    """/api/chat with no messages only loads (or with keep_alive 0 unloads) the model."""
    obj = {
        "model": model,
        "created_at": rfc3339nano(time.time()),
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "unload" if unload else "load",
    }
    return Answer(200, JSON_GIN, _dumps(obj))


# ---------------------------------------------------------------- OpenAI-compatible /v1/chat/completions


def _finish_reason(reply: Reply, has_calls: bool) -> str:
    reason = reply.done_reason or "stop"
    return "tool_calls" if reason == "stop" and has_calls else reason


def _usage(prompt: int, evals: int) -> bytes:
    return b'{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}' % (prompt, evals, prompt + evals)


def openai_chat(reply: Reply, ctx: Ctx, stream: bool) -> Answer:
    if reply.garbage:
        if stream:
            return Answer(200, SSE, parts=list(_GARBAGE_SSE))
        return Answer(200, JSON_PLAIN, _GARBAGE_BODY)
    plan = reply.plan()
    pieces = _pieces(reply, plan)
    # The compat layer converts current-format native tool calls (ids and index).
    calls = _openai_calls(_native_calls(plan, False, ctx.next_call_id)) if plan.tool_calls else None
    # Every object starts the same: id, object, created, model, system_fingerprint. Concatenated,
    # not %-formatted twice, so a "%" in a model name cannot break the template.
    ident = b'"id":"' + ctx.openai_id.encode() + b'","object":"'
    common = b'","created":%d,"model":%b,"system_fingerprint":"fp_ollama"' % (ctx.created, _dumps(ctx.model))

    if not stream:
        if reply.drop_connection:
            return Answer(200, JSON_PLAIN, drop=True)
        if reply.mid_stream_error:
            return openai_error(500, reply.mid_stream_error)
        message = _with_calls(pieces.openai_full, calls) if calls else pieces.openai_full
        if reply.truncate:
            # No done response: no finish_reason and zero usage (metrics are absent).
            finish, usage = b"null", _usage(0, 0)
        else:
            finish = _dumps(_finish_reason(reply, bool(calls)))
            usage = _usage(*_counts(reply, plan, ctx))
        body = b'{%b,"choices":[{"index":0,"message":%b,"finish_reason":%b}],"usage":%b}\n' % (
            ident + b"chat.completion" + common,
            message,
            finish,
            usage,
        )
        return Answer(200, JSON_PLAIN, body)

    head = ident + b"chat.completion.chunk" + common
    pre = b"data: {" + head + b',"choices":[{"index":0,"delta":'
    post = b',"finish_reason":null}]}\n\n'
    parts = [pre + d + post for d in pieces.openai_deltas]
    if calls:
        delta = b'{"content":""}' if parts else b'{"role":"assistant","content":""}'
        parts.append(pre + _with_calls(delta, calls) + post)

    if reply.mid_stream_error:
        parts.append(b"data: " + _dumps(openai_error_body(500, reply.mid_stream_error)) + b"\n\n")
    elif not (reply.truncate or reply.drop_connection):
        if not parts:
            parts.append(
                pre + b'{"role":"assistant","content":""}' + post
            )  # an empty completion still has a role chunk
        finish = _dumps(_finish_reason(reply, bool(calls)))
        parts.append(b'data: {%b,"choices":[{"index":0,"delta":{},"finish_reason":%b}]}\n\n' % (head, finish))
        if ctx.include_usage:
            parts.append(
                b'data: {%b,"choices":[],"usage":%b}\n\n' % (head, _usage(*_counts(reply, plan, ctx)))
            )
        parts.append(b"data: [DONE]\n\n")
    return Answer(200, SSE, parts=parts, drop=reply.drop_connection)
