"""Ollama `/api/chat` NDJSON chunks -> Responses API stream events (and the final Response object).

One `ResponseEventStream` per request. The core calls `opening()`, then `feed(chunk)` for every parsed
NDJSON object (and `heartbeat()` while the upstream is silent), then `finish()` when the upstream body
ended. Every returned event is a dict ready for `encode_sse` (the Response in lifecycle events carries
its echoed objects as `orjson.Fragment`s, see Cost below).

Output items, in the order the model produced them:
- thinking -> a `reasoning` item. Its summary streams as `reasoning_summary_text.delta` (what Codex shows);
  the done item carries the thinking as `summary`, as raw `content` (reasoning_text), and sealed as
  `encrypted_content`, which the client sends back next turn so the model gets its thinking again.
- content -> a `message` item (`output_text.delta` with `logprobs: []`, as the SDK requires).
- tool calls -> `function_call` items, or `custom_tool_call` items for free-form tools (per the ToolMap),
  with `namespace` for namespaced tools. Text before tool calls is kept as its own message item.
Whitespace-only content or thinking is held back until something visible follows, so a stray "\n\n"
between thinking and a tool call does not become an empty message.

Failure shape: an Ollama `{"error": ...}` line, `fail()`, or `finish()` without a `done` chunk emit
`response.failed` (items still open are reported in `response.output` with status "incomplete" but get no
`output_item.done`: clients record done items into history, and a failed turn is retried from scratch).
`done_reason: "length"` ends with `response.incomplete` (`incomplete_details.reason = "max_output_tokens"`).

Cost: a content delta inside an open message is one small dict literal; Response snapshots are shallow
copies of a dict prepared once, built only for lifecycle events. The echoed request fields that are
objects or arrays (Codex: ten tools with their JSON schemas) are serialized once and spliced into every
lifecycle event as `orjson.Fragment`s, so a long stream holds bytes, not a tree of Python objects
(`response` parses them back); identical values, such as one client's tools in every request, share
one copy.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from typing import Any

import orjson

from proxy.api import code_for_text

from .sealing import ThinkingSealer
from .tool_mapping import ToolMap

__all__ = ["ECHO_DEFAULTS", "ResponseEventStream", "build_response", "encode_sse"]

# What the Response object shows when the request did not say (OpenAI's defaults).
ECHO_DEFAULTS: dict[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "reasoning": {"effort": None, "summary": None},
    "store": True,
    "temperature": 1.0,
    "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "tool_choice": "auto",
    "tools": [],
    "top_p": 1.0,
    "truncation": "disabled",
    "user": None,
    "metadata": {},
}

_MESSAGE = "message"
_REASONING = "reasoning"
UPSTREAM_ENDED_EARLY = "upstream stream ended before completion"


def encode_sse(event: dict[str, Any]) -> bytes:
    """One Server-Sent Event: ``event: <type>`` + ``data: <json>``."""
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


# Serialized echo values shared between streams (keyed by their JSON): a client sends the same tools in
# every request. At most 64 values of up to 64 KB each (Codex's ten tools: 9 KB), so at most 4 MB
# stay after the streams are gone.
_SHARED_ECHO: OrderedDict[bytes, tuple[bytes, orjson.Fragment]] = OrderedDict()
SHARED_ECHO_COUNT = 64
SHARED_ECHO_MAX_BYTES = 64 * 1024


def frozen(value: Any) -> tuple[bytes, orjson.Fragment]:
    """``value`` as right-sized JSON bytes, and the Fragment that splices them into an event."""
    raw = orjson.dumps(value)
    shared = _SHARED_ECHO.get(raw)
    if shared is not None:
        _SHARED_ECHO.move_to_end(raw)
        return shared
    # orjson hands back its output in a buffer sized for growth (several times its length): copy.
    exact = bytes(memoryview(raw))
    pair = (exact, orjson.Fragment(exact))
    if len(exact) <= SHARED_ECHO_MAX_BYTES:
        _SHARED_ECHO[exact] = pair
        if len(_SHARED_ECHO) > SHARED_ECHO_COUNT:
            _SHARED_ECHO.popitem(last=False)
    return pair


def _new_id(prefix: str) -> str:
    """``prefix`` and 32 random hex digits (as OpenAI's ids look); os.urandom without uuid4's
    UUID object, which cost a tenth of translating a short answer."""
    return prefix + os.urandom(16).hex()


def _error_code(message: str) -> str:
    """An upstream error text -> the `response.failed` code that makes clients react right
    (context_length_exceeded: not retried; rate_limit_exceeded / server_is_overloaded: retried)."""
    return code_for_text(message) or "server_error"


def _error_message(error: Any) -> str:
    if isinstance(error, str):
        return error
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    return str(error)


class _OpenItem:
    """The message or reasoning item currently receiving deltas."""

    __slots__ = ("id", "index", "kind", "parts")

    def __init__(self, kind: str, item_id: str, index: int) -> None:
        self.kind = kind
        self.id = item_id
        self.index = index
        self.parts: list[str] = []


class ResponseEventStream:
    def __init__(
        self,
        *,
        response_id: str,
        model: str,
        echo: dict[str, Any],
        tool_map: ToolMap,
        sealer: ThinkingSealer,
        created_at: int | None = None,
        include_encrypted: bool = True,
    ) -> None:
        self._tool_map = tool_map
        self._sealer = sealer
        self._include_encrypted = include_encrypted
        base: dict[str, Any] = {
            "id": response_id,
            "object": "response",
            "created_at": int(time.time()) if created_at is None else created_at,
            "status": "in_progress",
            "background": False,
            "error": None,
            "incomplete_details": None,
        }
        base.update(ECHO_DEFAULTS)
        base.update(echo)
        base["id"] = response_id
        base["object"] = "response"
        base["model"] = model
        base["output"] = []
        base["usage"] = None
        self._frozen: dict[str, bytes] = {}  # the echoed fields kept as JSON, by key
        for key, value in echo.items():
            if isinstance(value, (dict, list)):
                self._frozen[key], base[key] = frozen(value)
        self._base = base

        self._seq = 0
        self._opened = False
        self._finished = False
        self._has_output = False
        self._next_index = 0
        self._open: _OpenItem | None = None
        self._output: list[dict[str, Any]] = []  # items already announced with output_item.done
        self._ws_content = ""  # whitespace-only content held back
        self._ws_thinking = ""
        self._thinking_chunks = 0
        self._thinking_chars = 0
        self._usage: dict[str, Any] | None = None
        self._final: dict[str, Any] | None = None

    # ----------------------------------------------------------------- public surface

    @property
    def has_output(self) -> bool:
        """True once an output item was announced: from then on the core must not fail over."""
        return self._has_output

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def usage(self) -> dict[str, Any] | None:
        return self._usage

    @property
    def status(self) -> str:
        return self._final["status"] if self._final is not None else "in_progress"

    @property
    def error(self) -> dict[str, Any] | None:
        """The final Response's `error` ({code, message}) once it failed."""
        return self._final.get("error") if self._final is not None else None

    @property
    def response(self) -> dict[str, Any]:
        """The Response object as it stands (the final one once finished), plain Python objects."""
        response = self._current()
        for key, raw in self._frozen.items():
            response[key] = orjson.loads(raw)
        return response

    def response_json(self) -> bytes:
        """The Response object as it stands, serialized (no parsing of the echoed fields)."""
        return orjson.dumps(self._current())

    def _current(self) -> dict[str, Any]:
        if self._final is not None:
            return dict(self._final)
        output = list(self._output)
        if self._open is not None:
            output.append(self._item_snapshot(self._open, "in_progress"))
        return self._snapshot("in_progress", output)

    def opening(self) -> list[dict[str, Any]]:
        """`response.created` + `response.in_progress` (once; later calls return [])."""
        if self._opened:
            return []
        self._opened = True
        return [
            self._lifecycle("response.created", self._snapshot("in_progress", [])),
            self._lifecycle("response.in_progress", self._snapshot("in_progress", [])),
        ]

    def heartbeat(self) -> dict[str, Any]:
        """Another `response.in_progress`: Codex resets its idle timer only on parsed events.
        Call it after `opening()` and before the stream finished."""
        return self._lifecycle("response.in_progress", self._snapshot("in_progress", []))

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        """Events for one parsed Ollama NDJSON object (opening events first if not sent yet)."""
        if self._finished:
            return []
        events: list[dict[str, Any]] = [] if self._opened else self.opening()
        error = chunk.get("error")
        if error is not None:
            text = _error_message(error)
            self._fail_into(events, text, _error_code(text))
            return events
        message = chunk.get("message")
        if message:
            thinking = message.get("thinking")
            if thinking:
                self._thinking_delta(thinking, events)
            content = message.get("content")
            if content:
                self._content_delta(content, events)
            tool_calls = message.get("tool_calls")
            if tool_calls:
                self._tool_calls(tool_calls, events)
        if chunk.get("done"):
            self._complete(chunk, events)
        return events

    def finish(self) -> list[dict[str, Any]]:
        """The upstream body ended: fail if no `done` chunk was seen; [] when already finished."""
        if self._finished:
            return []
        return self.fail(UPSTREAM_ENDED_EARLY)

    def fail(self, message: str, code: str = "server_error") -> list[dict[str, Any]]:
        """End the stream with `response.failed` (`response.error = {code, message}`)."""
        if self._finished:
            return []
        events: list[dict[str, Any]] = [] if self._opened else self.opening()
        self._fail_into(events, message, code)
        return events

    # ----------------------------------------------------------------- deltas

    def _content_delta(self, content: str, events: list[dict[str, Any]]) -> None:
        item = self._open
        if item is None or item.kind is not _MESSAGE:
            if content.isspace():
                self._ws_content += content
                return
            content = self._ws_content + content
            item = self._open_message(events)
        item.parts.append(content)
        seq = self._seq
        self._seq = seq + 1
        events.append(
            {
                "type": "response.output_text.delta",
                "item_id": item.id,
                "output_index": item.index,
                "content_index": 0,
                "delta": content,
                "logprobs": [],
                "sequence_number": seq,
            }
        )

    def _thinking_delta(self, thinking: str, events: list[dict[str, Any]]) -> None:
        self._thinking_chunks += 1
        self._thinking_chars += len(thinking)
        item = self._open
        if item is None or item.kind is not _REASONING:
            if thinking.isspace():
                self._ws_thinking += thinking
                return
            thinking = self._ws_thinking + thinking
            item = self._open_reasoning(events)
        item.parts.append(thinking)
        seq = self._seq
        self._seq = seq + 1
        events.append(
            {
                "type": "response.reasoning_summary_text.delta",
                "item_id": item.id,
                "output_index": item.index,
                "summary_index": 0,
                "delta": thinking,
                "sequence_number": seq,
            }
        )

    def _tool_calls(self, calls: list[Any], events: list[dict[str, Any]]) -> None:
        self._close_open(events)
        self._ws_content = self._ws_thinking = ""
        for call in calls:
            if not isinstance(call, dict):
                continue
            function = call.get("function") or {}
            name = function.get("name") or ""
            arguments = function.get("arguments")
            call_id = call.get("id") or "call_" + os.urandom(12).hex()
            target = self._tool_map.resolve(name)
            if target is not None and target.kind == "custom":
                self._custom_tool_call(call_id, target.name, target.namespace, arguments, events)
            elif target is not None:
                self._function_call(call_id, target.name, target.namespace, arguments, events)
            else:  # a tool the client did not offer: pass it on as is, the client reports the error
                self._function_call(call_id, name, None, arguments, events)

    def _function_call(
        self, call_id: str, name: str, namespace: str | None, arguments: Any, events: list[dict[str, Any]]
    ) -> None:
        if isinstance(arguments, str):
            text = arguments
        else:
            text = orjson.dumps(arguments if arguments is not None else {}).decode()
        item_id = _new_id("fc_")
        index = self._start_item()
        item: dict[str, Any] = {
            "id": item_id,
            "type": "function_call",
            "status": "in_progress",
            "arguments": "",
            "call_id": call_id,
            "name": name,
        }
        if namespace is not None:
            item["namespace"] = namespace
        done_item = {**item, "status": "completed", "arguments": text}
        self._emit(events, {"type": "response.output_item.added", "output_index": index, "item": item})
        self._emit(
            events,
            {
                "type": "response.function_call_arguments.delta",
                "item_id": item_id,
                "output_index": index,
                "delta": text,
            },
        )
        self._emit(
            events,
            {
                "type": "response.function_call_arguments.done",
                "item_id": item_id,
                "output_index": index,
                "name": name,
                "arguments": text,
            },
        )
        self._emit(events, {"type": "response.output_item.done", "output_index": index, "item": done_item})
        self._output.append(done_item)

    def _custom_tool_call(
        self, call_id: str, name: str, namespace: str | None, arguments: Any, events: list[dict[str, Any]]
    ) -> None:
        raw = _free_form_input(arguments)
        item_id = _new_id("ctc_")
        index = self._start_item()
        item: dict[str, Any] = {
            "id": item_id,
            "type": "custom_tool_call",
            "status": "in_progress",
            "call_id": call_id,
            "name": name,
            "input": "",
        }
        if namespace is not None:
            item["namespace"] = namespace
        done_item = {**item, "status": "completed", "input": raw}
        self._emit(events, {"type": "response.output_item.added", "output_index": index, "item": item})
        self._emit(
            events,
            {
                "type": "response.custom_tool_call_input.delta",
                "item_id": item_id,
                "output_index": index,
                "delta": raw,
            },
        )
        self._emit(
            events,
            {
                "type": "response.custom_tool_call_input.done",
                "item_id": item_id,
                "output_index": index,
                "input": raw,
            },
        )
        self._emit(events, {"type": "response.output_item.done", "output_index": index, "item": done_item})
        self._output.append(done_item)

    # ----------------------------------------------------------------- items

    def _emit(self, events: list[dict[str, Any]], event: dict[str, Any]) -> None:
        event["sequence_number"] = self._seq
        self._seq += 1
        events.append(event)

    def _start_item(self) -> int:
        self._has_output = True
        index = self._next_index
        self._next_index = index + 1
        return index

    def _open_message(self, events: list[dict[str, Any]]) -> _OpenItem:
        self._close_open(events)
        self._ws_content = self._ws_thinking = ""
        item = self._open = _OpenItem(_MESSAGE, _new_id("msg_"), self._start_item())
        self._emit(
            events,
            {
                "type": "response.output_item.added",
                "output_index": item.index,
                "item": {
                    "id": item.id,
                    "type": "message",
                    "status": "in_progress",
                    "role": "assistant",
                    "content": [],
                },
            },
        )
        self._emit(
            events,
            {
                "type": "response.content_part.added",
                "item_id": item.id,
                "output_index": item.index,
                "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            },
        )
        return item

    def _open_reasoning(self, events: list[dict[str, Any]]) -> _OpenItem:
        self._close_open(events)
        self._ws_content = self._ws_thinking = ""
        item = self._open = _OpenItem(_REASONING, _new_id("rs_"), self._start_item())
        self._emit(
            events,
            {
                "type": "response.output_item.added",
                "output_index": item.index,
                "item": {"id": item.id, "type": "reasoning", "summary": []},
            },
        )
        self._emit(
            events,
            {
                "type": "response.reasoning_summary_part.added",
                "item_id": item.id,
                "output_index": item.index,
                "summary_index": 0,
                "part": {"type": "summary_text", "text": ""},
            },
        )
        return item

    def _item_snapshot(self, item: _OpenItem, status: str) -> dict[str, Any]:
        text = "".join(item.parts)
        if item.kind is _MESSAGE:
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            return {
                "id": item.id,
                "type": "message",
                "status": status,
                "role": "assistant",
                "content": [part],
            }
        return {
            "id": item.id,
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": text}],
            "content": [{"type": "reasoning_text", "text": text}],
        }

    def _close_open(self, events: list[dict[str, Any]], status: str = "completed") -> None:
        """Finish the open message/reasoning item with its `.done` events."""
        item = self._open
        if item is None:
            return
        self._open = None
        done = self._item_snapshot(item, status)
        if item.kind is _MESSAGE:
            part = done["content"][0]
            text = part["text"]
            self._emit(
                events,
                {
                    "type": "response.output_text.done",
                    "item_id": item.id,
                    "output_index": item.index,
                    "content_index": 0,
                    "text": text,
                    "logprobs": [],
                },
            )
            self._emit(
                events,
                {
                    "type": "response.content_part.done",
                    "item_id": item.id,
                    "output_index": item.index,
                    "content_index": 0,
                    "part": part,
                },
            )
        else:
            summary = done["summary"][0]
            text = summary["text"]
            if self._include_encrypted:
                done["encrypted_content"] = self._sealer.seal(text)
            self._emit(
                events,
                {
                    "type": "response.reasoning_summary_text.done",
                    "item_id": item.id,
                    "output_index": item.index,
                    "summary_index": 0,
                    "text": text,
                },
            )
            self._emit(
                events,
                {
                    "type": "response.reasoning_summary_part.done",
                    "item_id": item.id,
                    "output_index": item.index,
                    "summary_index": 0,
                    "part": summary,
                },
            )
        self._emit(events, {"type": "response.output_item.done", "output_index": item.index, "item": done})
        self._output.append(done)

    # ----------------------------------------------------------------- endings

    def _snapshot(self, status: str, output: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        response = dict(self._base)
        response["status"] = status
        response["output"] = output
        response["usage"] = self._usage
        if fields:
            response.update(fields)
        return response

    def _lifecycle(self, kind: str, response: dict[str, Any]) -> dict[str, Any]:
        seq = self._seq
        self._seq = seq + 1
        return {"type": kind, "response": response, "sequence_number": seq}

    def _record_usage(self, chunk: dict[str, Any]) -> None:
        input_tokens = int(chunk.get("prompt_eval_count") or 0)
        output_tokens = int(chunk.get("eval_count") or 0)
        self._usage = {
            "input_tokens": input_tokens,
            # cache_write_tokens: required by the openai SDK's strict model (>= 2.x); Ollama reports none.
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": self._reasoning_tokens(output_tokens)},
            "total_tokens": input_tokens + output_tokens,
        }

    def _reasoning_tokens(self, output_tokens: int) -> int:
        """Ollama counts thinking inside eval_count without splitting it out. A streamed chunk is about one
        token; a single (non-streamed) chunk is estimated at 4 characters per token."""
        if not self._thinking_chars:
            return 0
        estimate = self._thinking_chunks if self._thinking_chunks > 1 else -(-self._thinking_chars // 4)
        return min(estimate, output_tokens) if output_tokens else estimate

    def _complete(self, chunk: dict[str, Any], events: list[dict[str, Any]]) -> None:
        self._record_usage(chunk)
        truncated = chunk.get("done_reason") == "length"
        self._close_open(events, "incomplete" if truncated else "completed")
        self._ws_content = self._ws_thinking = ""
        if truncated:
            response = self._snapshot(
                "incomplete", list(self._output), incomplete_details={"reason": "max_output_tokens"}
            )
            kind = "response.incomplete"
        else:
            response = self._snapshot("completed", list(self._output), completed_at=int(time.time()))
            kind = "response.completed"
        self._final = response
        self._finished = True
        events.append(self._lifecycle(kind, response))

    def _fail_into(self, events: list[dict[str, Any]], message: str, code: str) -> None:
        output = list(self._output)
        if self._open is not None:
            output.append(self._item_snapshot(self._open, "incomplete"))
            self._open = None
        response = self._snapshot("failed", output, error={"code": code, "message": message})
        self._final = response
        self._finished = True
        events.append(self._lifecycle("response.failed", response))


def _free_form_input(arguments: Any) -> str:
    """The raw text of a custom tool call from the arguments the model gave its function stand-in."""
    if isinstance(arguments, str):
        return arguments
    if isinstance(arguments, dict):
        value = arguments.get("input")
        if isinstance(value, str):
            return value
        strings = [v for v in arguments.values() if isinstance(v, str)]
        if len(strings) == 1:  # the model named the parameter differently
            return strings[0]
    return orjson.dumps(arguments if arguments is not None else {}).decode()


def build_response(
    chunk: dict[str, Any],
    *,
    response_id: str,
    model: str,
    echo: dict[str, Any],
    tool_map: ToolMap,
    sealer: ThinkingSealer,
    created_at: int | None = None,
    include_encrypted: bool = True,
) -> dict[str, Any]:
    """Non-streaming: one `stream: false` /api/chat answer -> the final Response object. Runs the same
    event stream so both paths agree; status is "failed" for an error object or a missing `done`."""
    stream = ResponseEventStream(
        response_id=response_id,
        model=model,
        echo=echo,
        tool_map=tool_map,
        sealer=sealer,
        created_at=created_at,
        include_encrypted=include_encrypted,
    )
    stream.feed(chunk)
    stream.finish()
    return stream.response
