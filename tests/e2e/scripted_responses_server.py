"""A tiny scripted OpenAI Responses API server for checking how the real Codex CLI behaves.

Each ``POST /v1/responses`` gets the next scripted :data:`Turn`: either an SSE stream (events shaped like the
captures in ``/work/shared/reference/codex/sse/``, with fresh ids and sequence numbers) or a plain HTTP error.
Every request is recorded (headers + parsed JSON body). Runs on 127.0.0.1, an ephemeral port, in a thread::

    with ScriptedResponsesServer([function_call_turn("exec_command", {"cmd": "ls"}), text_turn("ok")]) as srv:
        ...  # point Codex at srv.base_url
        srv.requests[1].body["input"]
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JSON = dict[str, Any]
DEFAULT_MODEL = "gpt-5.4"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    """Parsed JSON body (or the raw text if it was not JSON)."""


@dataclass
class SseTurn:
    """An SSE answer. ``sequence_number`` is stamped onto each event (0, 1, ...) unless ``number_events`` is
    False. A ``str`` entry is written to the socket verbatim (SSE comments, malformed frames). ``delay_s``
    sleeps before each entry. ``end_stream`` False keeps the socket open (idle) after the last event until the
    server stops, to exercise Codex's idle timeout."""

    events: list[JSON | str]
    number_events: bool = True
    delay_s: float = 0.0
    end_stream: bool = True
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class HttpErrorTurn:
    """A non-streaming HTTP error answer with a JSON body."""

    status: int
    body: JSON | str
    headers: dict[str, str] = field(default_factory=dict)


Turn = SseTurn | HttpErrorTurn
ItemBuilder = Callable[[int], tuple[list[JSON], JSON]]
"""Given an output_index, returns (the item's streaming events, the finished item)."""


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def usage(input_tokens: int = 12, output_tokens: int = 3, cached: int = 0, reasoning: int = 0) -> JSON:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }


def response_object(
    resp_id: str,
    *,
    status: str = "in_progress",
    output: list[JSON] | None = None,
    usage_: JSON | None = None,
    error: JSON | None = None,
    incomplete_details: JSON | None = None,
    model: str = DEFAULT_MODEL,
) -> JSON:
    """The ``response`` object carried by response.created / in_progress / completed / failed."""
    return {
        "id": resp_id, "object": "response", "created_at": int(time.time()), "status": status,
        "background": False, "error": error, "incomplete_details": incomplete_details,
        "instructions": None, "max_output_tokens": None, "model": model, "output": output or [],
        "parallel_tool_calls": True, "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None}, "store": False, "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"}, "tool_choice": "auto", "tools": [],
        "top_p": 1.0, "truncation": "disabled", "usage": usage_, "user": None, "metadata": {},
    }  # fmt: skip


# ---- output items ------------------------------------------------------------------------------------


def message_item(text: str, *, chunk: int = 8) -> ItemBuilder:
    def build(idx: int) -> tuple[list[JSON], JSON]:
        item_id = new_id("msg")
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        base = {"item_id": item_id, "output_index": idx, "content_index": 0}
        done = {"id": item_id, "type": "message", "status": "completed", "role": "assistant", "content": [part]}
        events: list[JSON] = [
            {"type": "response.output_item.added", "output_index": idx,
             "item": {**done, "status": "in_progress", "content": []}},
            {"type": "response.content_part.added", **base, "part": {**part, "text": ""}},
            *({"type": "response.output_text.delta", **base, "delta": text[i : i + chunk], "logprobs": []}
              for i in range(0, len(text), chunk)),
            {"type": "response.output_text.done", **base, "text": text, "logprobs": []},
            {"type": "response.content_part.done", **base, "part": part},
            {"type": "response.output_item.done", "output_index": idx, "item": done},
        ]  # fmt: skip
        return events, done

    return build


def function_call_item(
    name: str, arguments: JSON | str, *, call_id: str | None = None, namespace: str | None = None
) -> ItemBuilder:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)

    def build(idx: int) -> tuple[list[JSON], JSON]:
        item_id = new_id("fc")
        done: JSON = {"id": item_id, "type": "function_call", "status": "completed", "arguments": args,
                      "call_id": call_id or new_id("call"), "name": name}  # fmt: skip
        if namespace is not None:
            done["namespace"] = namespace
        base = {"item_id": item_id, "output_index": idx}
        half = len(args) // 2
        events: list[JSON] = [
            {"type": "response.output_item.added", "output_index": idx,
             "item": {**done, "status": "in_progress", "arguments": ""}},
            {"type": "response.function_call_arguments.delta", **base, "delta": args[:half]},
            {"type": "response.function_call_arguments.delta", **base, "delta": args[half:]},
            {"type": "response.function_call_arguments.done", **base, "name": name, "arguments": args},
            {"type": "response.output_item.done", "output_index": idx, "item": done},
        ]  # fmt: skip
        return events, done

    return build


def custom_tool_call_item(name: str, input_: str, *, call_id: str | None = None) -> ItemBuilder:
    def build(idx: int) -> tuple[list[JSON], JSON]:
        item_id = new_id("ctc")
        done: JSON = {"id": item_id, "type": "custom_tool_call", "status": "completed",
                      "call_id": call_id or new_id("call"), "name": name, "input": input_}  # fmt: skip
        base = {"item_id": item_id, "output_index": idx}
        half = len(input_) // 2
        events: list[JSON] = [
            {"type": "response.output_item.added", "output_index": idx,
             "item": {**done, "status": "in_progress", "input": ""}},
            {"type": "response.custom_tool_call_input.delta", **base, "delta": input_[:half]},
            {"type": "response.custom_tool_call_input.delta", **base, "delta": input_[half:]},
            {"type": "response.custom_tool_call_input.done", **base, "input": input_},
            {"type": "response.output_item.done", "output_index": idx, "item": done},
        ]  # fmt: skip
        return events, done

    return build


def reasoning_item(summary: str) -> ItemBuilder:
    def build(idx: int) -> tuple[list[JSON], JSON]:
        item_id = new_id("rs")
        part = {"type": "summary_text", "text": summary}
        base = {"item_id": item_id, "output_index": idx, "summary_index": 0}
        done: JSON = {"id": item_id, "type": "reasoning", "summary": [part],
                      "encrypted_content": f"STUB-ENCRYPTED-{uuid.uuid4().hex}"}  # fmt: skip
        events: list[JSON] = [
            {"type": "response.output_item.added", "output_index": idx,
             "item": {"id": item_id, "type": "reasoning", "summary": []}},
            {"type": "response.reasoning_summary_part.added", **base, "part": {**part, "text": ""}},
            {"type": "response.reasoning_summary_text.delta", **base, "delta": summary},
            {"type": "response.reasoning_summary_text.done", **base, "text": summary},
            {"type": "response.reasoning_summary_part.done", **base, "part": part},
            {"type": "response.output_item.done", "output_index": idx, "item": done},
        ]  # fmt: skip
        return events, done

    return build


# ---- whole turns --------------------------------------------------------------------------------------


def response_turn(*items: ItemBuilder, usage_: JSON | None = None, model: str = DEFAULT_MODEL) -> SseTurn:
    """created, in_progress, each item's events, completed (with all items in ``output``)."""
    resp_id = new_id("resp")
    events: list[JSON | str] = [
        {"type": "response.created", "response": response_object(resp_id, model=model)},
        {"type": "response.in_progress", "response": response_object(resp_id, model=model)},
    ]
    output: list[JSON] = []
    for idx, build in enumerate(items):
        item_events, done = build(idx)
        events.extend(item_events)
        output.append(done)
    final = response_object(resp_id, status="completed", output=output, usage_=usage_ or usage(), model=model)
    events.append({"type": "response.completed", "response": final})
    return SseTurn(events)


def text_turn(text: str) -> SseTurn:
    return response_turn(message_item(text))


def function_call_turn(name: str, arguments: JSON | str, **kw: Any) -> SseTurn:
    return response_turn(function_call_item(name, arguments, **kw))


def custom_tool_call_turn(name: str, input_: str, **kw: Any) -> SseTurn:
    return response_turn(custom_tool_call_item(name, input_, **kw))


def failed_turn(code: str, message: str, *, model: str = DEFAULT_MODEL) -> SseTurn:
    """A stream that starts normally and ends with ``response.failed`` carrying ``error``."""
    resp_id = new_id("resp")
    error = {"code": code, "message": message}
    return SseTurn([
        {"type": "response.created", "response": response_object(resp_id, model=model)},
        {"type": "response.in_progress", "response": response_object(resp_id, model=model)},
        {"type": "response.failed", "response": response_object(resp_id, status="failed", error=error, model=model)},
    ])  # fmt: skip


def error_turn(
    status: int, message: str, *, type_: str, code: str | None = None, param: str | None = None,
    headers: dict[str, str] | None = None, **extra: Any,
) -> HttpErrorTurn:  # fmt: skip
    """An HTTP error with an OpenAI-style body ``{"error": {message, type, code, param, **extra}}``."""
    body = {"error": {"message": message, "type": type_, "code": code, "param": param, **extra}}
    return HttpErrorTurn(status, body, dict(headers or {}))


# ---- server -------------------------------------------------------------------------------------------


class ScriptedResponsesServer:
    def __init__(self, turns: Iterable[Turn] = ()) -> None:
        self.turns: list[Turn] = list(turns)
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="scripted-responses", daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """Provider base URL for Codex config (Codex appends ``/responses``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def response_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.split("?")[0].endswith("/responses")]

    def add(self, *turns: Turn) -> None:
        with self._lock:
            self.turns.extend(turns)

    def start(self) -> ScriptedResponsesServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedResponsesServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record_only(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_turn(self, request: RecordedRequest) -> Turn | None:
        with self._lock:
            self.requests.append(request)
            return self.turns.pop(0) if self.turns else None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
                pass

            def _record(self) -> RecordedRequest:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                try:
                    body: Any = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = raw
                headers = {k.lower(): v for k, v in self.headers.items()}
                return RecordedRequest(self.command, self.path, headers, body)

            def _send_json(self, status: int, body: JSON | str, headers: dict[str, str]) -> None:
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = True

            def do_GET(self) -> None:  # noqa: N802
                server._record_only(self._record())
                self._send_json(404, {"error": {"message": "not scripted", "type": "invalid_request_error"}}, {})

            def do_POST(self) -> None:  # noqa: N802
                request = self._record()
                if not request.path.split("?")[0].endswith("/responses"):
                    server._record_only(request)
                    self._send_json(404, {"error": {"message": "not found", "type": "invalid_request_error"}}, {})
                    return
                turn = server._next_turn(request)
                if turn is None:
                    body = {"error": {"message": "scripted server: no turns left", "type": "server_error"}}
                    self._send_json(500, body, {})
                elif isinstance(turn, HttpErrorTurn):
                    self._send_json(turn.status, turn.body, turn.headers)
                else:
                    self._stream(turn)

            def _stream(self, turn: SseTurn) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                for k, v in turn.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.close_connection = True
                try:
                    seq = 0
                    for template in turn.events:
                        if turn.delay_s:
                            time.sleep(turn.delay_s)
                        if isinstance(template, str):
                            self.wfile.write(template.encode())
                            self.wfile.flush()
                            continue
                        event = copy.deepcopy(template)
                        if turn.number_events and "sequence_number" not in event:
                            event["sequence_number"] = seq
                        seq += 1
                        name = event.get("type", "message")
                        self.wfile.write(f"event: {name}\ndata: {json.dumps(event)}\n\n".encode())
                        self.wfile.flush()
                    if not turn.end_stream:
                        server._stop.wait()
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler
