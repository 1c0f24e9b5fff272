"""Ollama NDJSON chunks -> Responses API events, checked against the openai SDK's own models and its
strict stream accumulator (plugins.emulator.stream_translation)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
from openai import Omit
from openai.lib.streaming.responses._responses import ResponseStream, ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from plugins.emulator.request_translation import TranslatedRequest, translate_request
from plugins.emulator.sealing import ThinkingSealer
from plugins.emulator.stream_translation import (
    UPSTREAM_ENDED_EARLY,
    ResponseEventStream,
    build_response,
    encode_sse,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "codex"
SEALER = ThinkingSealer(b"stream-translation-test-secret")
EVENT = TypeAdapter(ResponseStreamEvent)
PATCH = "*** Begin Patch\n*** Add File: patched.txt\n+hello from patch\n*** End Patch\n"


def codex_request(name: str = "codex_fc_turn1_catalog_gpt54.json") -> TranslatedRequest:
    body = json.loads((DATA / "requests" / name).read_text())["body"]
    return translate_request(body, upstream_model="qwen3:8b", sealer=SEALER)


def plain(event: dict[str, Any]) -> dict[str, Any]:
    """An event as the client reads it (the stream splices its echoed fields in as serialized fragments)."""
    parsed: dict[str, Any] = orjson.loads(encode_sse(event).split(b"\ndata: ", 1)[1])
    return parsed


class ClientView:
    """A ResponseEventStream whose events come back as the client parses them."""

    def __init__(self, stream: ResponseEventStream) -> None:
        self.stream = stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def opening(self) -> list[dict[str, Any]]:
        return [plain(event) for event in self.stream.opening()]

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        return [plain(event) for event in self.stream.feed(chunk)]

    def finish(self) -> list[dict[str, Any]]:
        return [plain(event) for event in self.stream.finish()]

    def fail(self, message: str, code: str = "server_error") -> list[dict[str, Any]]:
        return [plain(event) for event in self.stream.fail(message, code)]

    def heartbeat(self) -> dict[str, Any]:
        return plain(self.stream.heartbeat())


def new_stream(request: TranslatedRequest | None = None, **overrides: Any) -> Any:
    request = request or codex_request()
    kwargs: dict[str, Any] = {
        "response_id": "resp_" + "0" * 32,
        "model": "gpt-5.4",
        "echo": request.echo,
        "tool_map": request.tool_map,
        "sealer": SEALER,
        "created_at": 1795630683,
    }
    kwargs.update(overrides)
    return ClientView(ResponseEventStream(**kwargs))


# --------------------------------------------------------------------------- Ollama chunks


def chunk(
    content: str = "", *, thinking: str | None = None, tool_calls: list[Any] | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking is not None:
        message["thinking"] = thinking
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {
        "model": "qwen3:8b",
        "created_at": "2025-11-25T20:00:00.000000Z",
        "message": message,
        "done": False,
    }


def done(reason: str = "stop", prompt: int = 42, evals: int = 17) -> dict[str, Any]:
    return {
        **chunk(),
        "done": True,
        "done_reason": reason,
        "total_duration": 912_000_000,
        "load_duration": 12_000_000,
        "prompt_eval_count": prompt,
        "prompt_eval_duration": 100_000_000,
        "eval_count": evals,
        "eval_duration": 800_000_000,
    }


def call(
    name: str, arguments: Any, call_id: str | None = "call_up1", index: int | None = 0
) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name, "arguments": arguments}
    if index is not None:
        function["index"] = index
    result: dict[str, Any] = {"function": function}
    if call_id is not None:
        result["id"] = call_id
    return result


THINKING_THEN_TEXT = [
    chunk(thinking="The user"),
    chunk(thinking=" wants a greeting."),
    chunk(thinking="\n"),
    chunk("Hello"),
    chunk(" there"),
    chunk("!"),
    done(evals=6),
]
TEXT_THEN_TOOL_CALL = [
    chunk("Let me "),
    chunk("check."),
    chunk("\n\n"),
    chunk(tool_calls=[call("exec_command", {"cmd": "ls -la", "yield_time_ms": 1000})]),
    done(),
]
CUSTOM_TOOL_CALL = [
    chunk(thinking="I will apply a patch."),
    chunk(tool_calls=[call("apply_patch", {"input": PATCH}, call_id="call_patch")]),
    done(),
]


# --------------------------------------------------------------------------- helpers


def run(
    stream: ClientView, chunks: list[dict[str, Any]], *, finish: bool = True
) -> list[dict[str, Any]]:
    events = stream.opening()
    for item in chunks:
        events += stream.feed(item)
    if finish:
        events += stream.finish()
    return events


def checked(events: list[dict[str, Any]]) -> list[Any]:
    """Validate every event with the SDK's strict models and the protocol's bookkeeping rules."""
    parsed = [EVENT.validate_python(event) for event in events]
    numbers = [event["sequence_number"] for event in events]
    assert numbers == sorted(set(numbers)), "sequence numbers strictly increase"
    assert events[0]["type"] == "response.created"
    for event in events:
        kind = event["type"]
        if kind.startswith("response.output_item."):
            assert isinstance(event["output_index"], int) and event["item"]["id"]
        elif kind not in (
            "response.created",
            "response.in_progress",
            "response.completed",
            "response.failed",
            "response.incomplete",
        ):
            assert isinstance(event["item_id"], str) and isinstance(event["output_index"], int), kind
        if kind.startswith(("response.output_text.", "response.content_part.")):
            assert event["content_index"] == 0
        if kind.startswith("response.output_text."):
            assert event["logprobs"] == []
        if kind.startswith("response.reasoning_summary"):
            assert event["summary_index"] == 0
        if "response" in event:
            Response.model_validate(event["response"])
            assert event["response"]["id"] and event["response"]["model"] == "gpt-5.4"
        # SSE framing round-trips.
        frame = encode_sse(event)
        head, data = frame.split(b"\n", 1)
        assert head == b"event: " + kind.encode() and frame.endswith(b"\n\n")
        assert orjson.loads(data[len(b"data: ") : -2]) == event
    return parsed


def accumulate(events: list[dict[str, Any]]) -> ResponseStreamState[Any]:
    """Drive the SDK's strict accumulator (what `client.responses.stream()` uses) directly."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=Omit(), text_format=Omit())
    for event in checked(events):
        state.handle_event(event)
    return state


class _FakeRaw:
    """Stands in for the SDK's raw SSE stream so ResponseStream.get_final_response() can run."""

    def __init__(self, events: list[Any]) -> None:
        self._events = events
        self.response = self

    def __iter__(self) -> Iterator[Any]:
        return iter(self._events)

    def close(self) -> None:
        pass


def final_response(events: list[dict[str, Any]]) -> Any:
    stream = ResponseStream(
        raw_stream=_FakeRaw(checked(events)), text_format=Omit(), input_tools=Omit(), starting_after=None
    )  # type: ignore[arg-type]
    return stream.get_final_response()


def sdk_client(handler_body: bytes, content_type: str) -> openai.OpenAI:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/responses"
        return httpx.Response(200, headers={"content-type": content_type}, content=handler_body)

    transport = httpx.MockTransport(handler)
    return openai.OpenAI(
        api_key="sk-test",
        base_url="http://gateway.test/v1",
        http_client=httpx.Client(transport=transport),
        max_retries=0,
    )


def through_sdk_client(events: list[dict[str, Any]]) -> tuple[list[Any], Any]:
    """Serve the events as SSE to a real openai client and let `responses.stream()` consume them."""
    client = sdk_client(b"".join(encode_sse(e) for e in events), "text/event-stream")
    with client.responses.stream(model="gpt-5.4", input="hi") as stream:
        seen = list(stream)
        return seen, stream.get_final_response()


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def done_items(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["item"] for e in events if e["type"] == "response.output_item.done"]


# --------------------------------------------------------------------------- streams


def test_thinking_then_text() -> None:
    stream = new_stream()
    events = run(stream, THINKING_THEN_TEXT)
    assert types(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    reasoning, message = done_items(events)
    thinking = "The user wants a greeting.\n"
    assert reasoning["id"].startswith("rs_") and reasoning["type"] == "reasoning"
    assert reasoning["summary"] == [{"type": "summary_text", "text": thinking}]
    assert reasoning["content"] == [{"type": "reasoning_text", "text": thinking}]
    assert SEALER.unseal(reasoning["encrypted_content"]) == thinking
    assert message["id"].startswith("msg_") and message["status"] == "completed"
    assert message["content"][0]["text"] == "Hello there!"

    completed = events[-1]["response"]
    assert completed["status"] == "completed"
    assert completed["output"] == [reasoning, message]
    assert completed["usage"] == {
        "input_tokens": 42,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 6,
        "output_tokens_details": {"reasoning_tokens": 3},
        "total_tokens": 48,
    }
    assert stream.finished and stream.usage == completed["usage"] and stream.response == completed
    assert stream.finish() == [] and stream.feed(chunk("late")) == []

    final = final_response(events)
    assert final.output_text == "Hello there!"
    assert final.status == "completed"
    assert [item.type for item in final.output] == ["reasoning", "message"]


def test_text_and_tool_call_are_both_kept() -> None:
    stream = new_stream()
    events = stream.opening()
    assert not stream.has_output
    events += stream.feed(TEXT_THEN_TOOL_CALL[0])
    assert stream.has_output
    for item in TEXT_THEN_TOOL_CALL[1:]:
        events += stream.feed(item)
    events += stream.finish()

    message, function_call = done_items(events)
    assert message["content"][0]["text"] == "Let me check.\n\n"  # text is kept exactly
    assert function_call == {
        "id": function_call["id"],
        "type": "function_call",
        "status": "completed",
        "arguments": function_call["arguments"],
        "call_id": "call_up1",
        "name": "exec_command",
    }
    assert function_call["id"].startswith("fc_")
    assert json.loads(function_call["arguments"]) == {"cmd": "ls -la", "yield_time_ms": 1000}
    kinds = types(events)
    i = kinds.index("response.function_call_arguments.delta")
    assert kinds[i - 1 : i + 3] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]
    assert events[i - 1]["item"]["arguments"] == "" and events[i - 1]["output_index"] == 1
    assert events[i]["delta"] == function_call["arguments"]
    assert events[i + 1]["name"] == "exec_command"

    state = accumulate(events)
    assert state._completed_response is not None
    final = final_response(events)
    assert final.output_text == "Let me check.\n\n"
    calls = [item for item in final.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].call_id == "call_up1"


def test_custom_tool_call_for_free_form_tool() -> None:
    events = run(new_stream(), CUSTOM_TOOL_CALL)
    kinds = types(events)
    assert "response.function_call_arguments.delta" not in kinds
    assert kinds[-5:] == [
        "response.output_item.added",
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.done",
        "response.output_item.done",
        "response.completed",
    ]
    reasoning, custom = done_items(events)
    assert reasoning["type"] == "reasoning"
    assert custom["type"] == "custom_tool_call"
    assert custom["id"].startswith("ctc_")
    assert custom["name"] == "apply_patch" and custom["call_id"] == "call_patch"
    assert custom["input"] == PATCH
    assert "namespace" not in custom
    assert events[-3]["input"] == PATCH

    final = final_response(events)
    assert [item.type for item in final.output] == ["reasoning", "custom_tool_call"]
    assert final.output[1].input == PATCH


def test_whitespace_between_thinking_and_tool_call_makes_no_message() -> None:
    events = run(
        new_stream(),
        [
            chunk(thinking="plan"),
            chunk("\n"),
            chunk("\n"),
            chunk(tool_calls=[call("exec_command", {"cmd": "ls"})]),
            done(),
        ],
    )
    assert [i["type"] for i in done_items(events)] == ["reasoning", "function_call"]
    # Whitespace that precedes visible text is kept in front of it.
    events = run(new_stream(), [chunk(thinking="plan"), chunk("\n\n"), chunk("Hi"), done()])
    assert done_items(events)[1]["content"][0]["text"] == "\n\nHi"


def test_custom_tool_arguments_under_another_key_or_as_string() -> None:
    events = run(new_stream(), [chunk(tool_calls=[call("apply_patch", {"patch": PATCH})]), done()])
    assert done_items(events)[0]["input"] == PATCH
    events = run(new_stream(), [chunk(tool_calls=[call("apply_patch", PATCH)]), done()])
    assert done_items(events)[0]["input"] == PATCH


def test_namespaced_call_carries_namespace_and_original_name() -> None:
    request = codex_request("codex_second_turn_resume_assistant_history.json")
    events = run(
        new_stream(request),
        [chunk(tool_calls=[call("multi_agent_v1__spawn_agent", {"message": "go"})]), done()],
    )
    (item,) = done_items(events)
    assert item["type"] == "function_call"
    assert item["name"] == "spawn_agent"
    assert item["namespace"] == "multi_agent_v1"
    assert events[2]["item"]["namespace"] == "multi_agent_v1"
    final = final_response(events)
    assert final.output[0].namespace == "multi_agent_v1"


def test_model_quirks_in_tool_names_are_resolved() -> None:
    request = codex_request("codex_second_turn_resume_assistant_history.json")
    events = run(
        new_stream(request),
        [chunk(tool_calls=[call("spawn_agent", {}), call("functions.exec_command", {"cmd": "ls"})]), done()],
    )
    spawn, exec_call = done_items(events)
    assert (spawn["name"], spawn["namespace"]) == ("spawn_agent", "multi_agent_v1")
    assert exec_call["name"] == "exec_command" and "namespace" not in exec_call


def test_old_server_tool_calls_without_id_or_index_and_parallel_calls() -> None:
    events = run(
        new_stream(),
        [
            chunk(
                tool_calls=[
                    call("exec_command", {"cmd": "a"}, call_id=None, index=None),
                    call("exec_command", {"cmd": "b"}, call_id=None, index=None),
                    call("not_offered_tool", {"x": 1}, call_id=None, index=None),
                ]
            ),
            done(),
        ],
    )
    items = done_items(events)
    assert [i["output_index"] for i in events if i["type"] == "response.output_item.done"] == [0, 1, 2]
    call_ids = [i["call_id"] for i in items]
    assert all(c.startswith("call_") for c in call_ids) and len(set(call_ids)) == 3
    assert [json.loads(i["arguments"]) for i in items] == [{"cmd": "a"}, {"cmd": "b"}, {"x": 1}]
    assert items[2]["name"] == "not_offered_tool"  # passed on; the client answers with an error output
    assert len(final_response(events).output) == 3


def test_length_stop_is_incomplete() -> None:
    stream = new_stream()
    events = run(stream, [chunk("The answer is"), chunk(" long"), done("length", evals=2)])
    last = events[-1]
    assert last["type"] == "response.incomplete"
    assert last["response"]["status"] == "incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    (message,) = done_items(events)
    assert message["status"] == "incomplete"
    assert message["content"][0]["text"] == "The answer is long"
    assert stream.finished and stream.finish() == []
    accumulate(events)
    with pytest.raises(RuntimeError, match=r"response\.completed"):
        final_response(events)


def test_error_line_fails_the_response() -> None:
    stream = new_stream()
    events = run(
        stream,
        [chunk("partial"), {"error": "an error was encountered while running the model: unexpected EOF"}],
        finish=False,
    )
    last = events[-1]
    assert last["type"] == "response.failed"
    assert last["response"]["status"] == "failed"
    assert last["response"]["error"] == {
        "code": "server_error",
        "message": "an error was encountered while running the model: unexpected EOF",
    }
    # The open message is reported as incomplete but never announced as done.
    assert "response.output_item.done" not in types(events)
    assert last["response"]["output"][0]["status"] == "incomplete"
    assert stream.finished
    assert stream.feed(done()) == [] and stream.finish() == [] and stream.fail("again") == []
    accumulate(events)


def test_context_length_error_gets_a_code_codex_understands() -> None:
    events = run(
        new_stream(), [{"error": "prompt too long; exceeded max context length by 100 tokens"}], finish=False
    )
    assert events[-1]["response"]["error"]["code"] == "context_length_exceeded"


def test_stream_without_done_fails_on_finish() -> None:
    stream = new_stream()
    events = run(stream, [chunk(thinking="hmm"), chunk("Hi")], finish=False)
    assert not stream.finished
    failure = stream.finish()
    assert types(failure) == ["response.failed"]
    assert failure[0]["response"]["error"] == {"code": "server_error", "message": UPSTREAM_ENDED_EARLY}
    assert stream.finish() == []
    events += failure
    # The reasoning item completed before the text started, so it is done and kept.
    assert [i["type"] for i in failure[0]["response"]["output"]] == ["reasoning", "message"]
    accumulate(events)


def test_explicit_fail_with_code() -> None:
    stream = new_stream()
    events = stream.opening() + stream.fail("upstream rate limited", code="rate_limit_exceeded")
    assert events[-1]["response"]["error"] == {
        "code": "rate_limit_exceeded",
        "message": "upstream rate limited",
    }
    assert events[-1]["sequence_number"] == 2
    checked(events)
    completed = new_stream()
    run(completed, [chunk("x"), done()])
    assert completed.fail("too late") == []


def test_heartbeats_keep_numbering_and_validate() -> None:
    stream = new_stream()
    events = stream.opening()
    events.append(stream.heartbeat())
    events += stream.feed(chunk("Hel"))
    events.append(stream.heartbeat())
    events += stream.feed(chunk("lo"))
    events += stream.feed(done())
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert types(events).count("response.in_progress") == 3
    assert final_response(events).output_text == "Hello"


def test_feed_before_opening_opens_first() -> None:
    stream = new_stream()
    events = stream.feed(chunk("hi")) + stream.feed(done())
    assert types(events)[:2] == ["response.created", "response.in_progress"]
    assert stream.opening() == []
    checked(events)


def test_encrypted_content_can_be_left_out() -> None:
    events = run(new_stream(include_encrypted=False), [chunk(thinking="private"), chunk("ok"), done()])
    reasoning = done_items(events)[0]
    assert "encrypted_content" not in reasoning
    assert reasoning["summary"][0]["text"] == "private"


def test_sealed_reasoning_replays_into_the_next_request() -> None:
    events = run(
        new_stream(),
        [chunk(thinking="plan: run ls"), chunk(tool_calls=[call("exec_command", {"cmd": "ls"})]), done()],
    )
    output = events[-1]["response"]["output"]
    body = {
        "input": [
            {"role": "user", "content": "list"},
            *output,
            {"type": "function_call_output", "call_id": "call_up1", "output": "a.txt"},
        ]
    }
    messages = translate_request(body, upstream_model="m", sealer=SEALER).chat["messages"]
    assert messages[1]["thinking"] == "plan: run ls"
    assert messages[1]["tool_calls"][0]["function"]["arguments"] == {"cmd": "ls"}
    assert messages[2]["tool_name"] == "exec_command"


def test_echoed_fields_are_spliced_as_they_would_be_serialized() -> None:
    """The stream keeps the echoed tools serialized; the bytes a client gets are those of the plain
    Response, and two streams of the same tools share one serialized copy."""
    request = codex_request()
    stream = ResponseEventStream(
        response_id="resp_1", model="gpt-5.4", echo=request.echo, tool_map=request.tool_map, sealer=SEALER
    )
    events = stream.opening() + stream.feed(chunk("x")) + [stream.heartbeat()] + stream.feed(done())
    for event in events:
        assert encode_sse(event) == encode_sse(plain(event))
    assert stream.response["tools"] == request.echo["tools"]
    assert stream.response == plain(events[-1])["response"]
    other = ResponseEventStream(
        response_id="resp_2", model="gpt-5.4", echo=codex_request().echo, tool_map=request.tool_map, sealer=SEALER
    )
    assert other.opening()[0]["response"]["tools"] is events[0]["response"]["tools"]


def test_response_echoes_request_fields() -> None:
    request = codex_request()
    stream = new_stream(request)
    events = run(stream, [chunk("x"), done()])
    response = events[-1]["response"]
    assert response["id"] == "resp_" + "0" * 32
    assert response["object"] == "response" and response["created_at"] == 1795630683
    assert response["model"] == "gpt-5.4"
    assert response["tools"] == request.echo["tools"]
    assert response["parallel_tool_calls"] is True and response["tool_choice"] == "auto"
    assert response["store"] is False
    assert response["text"] == {"format": {"type": "text"}, "verbosity": "low"}
    assert response["reasoning"] == {"effort": "medium", "summary": None}
    assert response["error"] is None and response["incomplete_details"] is None
    # Every key the captured OpenAI-shaped stream had is present.
    captured = json.loads((DATA / "sse" / "text_full.jsonl").read_text().splitlines()[-1])["response"]
    assert set(captured) <= set(response)
    Response.model_validate(response)


@pytest.mark.parametrize(
    ("capture", "chunks"),
    [
        ("text_full.jsonl", [chunk("he"), chunk("llo"), done()]),
        ("function_call_full.jsonl", [chunk(tool_calls=[call("exec_command", {"cmd": "echo hi"})]), done()]),
        ("custom_tool_call_apply_patch_with_reasoning.jsonl", CUSTOM_TOOL_CALL),
    ],
)
def test_event_shapes_match_the_captured_streams(capture: str, chunks: list[dict[str, Any]]) -> None:
    captured = [
        json.loads(line) for line in (DATA / "sse" / capture).read_text().splitlines() if line.strip()
    ]
    ours = run(new_stream(), chunks)

    def collapse(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # Ours sends a tool call's arguments in one delta; the capture split them in two.
        return [
            e
            for i, e in enumerate(events)
            if not (e["type"].endswith(".delta") and i and events[i - 1]["type"] == e["type"])
        ]

    captured, ours = collapse(captured), collapse(ours)
    assert types(ours) == types(captured)
    for theirs, mine in zip(captured, ours, strict=True):
        assert set(theirs) <= set(mine), theirs["type"]
        for key in ("item", "part", "response"):
            if key in theirs:
                assert set(theirs[key]) <= set(mine[key]), (theirs["type"], key)


# --------------------------------------------------------------------------- through the real SDK client


def test_sdk_client_streams_text_and_tool_call() -> None:
    events = run(new_stream(), [chunk(thinking="think"), *TEXT_THEN_TOOL_CALL])
    seen, final = through_sdk_client(events)
    assert [e.type for e in seen] == types(events)
    assert final.output_text == "Let me check.\n\n"
    assert [item.type for item in final.output] == ["reasoning", "message", "function_call"]
    assert final.usage is not None and final.usage.input_tokens == 42 and final.usage.output_tokens == 17


def test_sdk_client_sees_failed_stream() -> None:
    events = run(new_stream(), [chunk("x")])
    with pytest.raises(RuntimeError, match=r"response\.completed"):
        through_sdk_client(events)


def test_sdk_client_non_streaming_response() -> None:
    request = codex_request()
    ollama_answer = {
        **done(evals=30),
        "message": {
            "role": "assistant",
            "content": "Patching now.",
            "thinking": "Need a new file." * 4,
            "tool_calls": [call("apply_patch", {"input": PATCH})],
        },
    }
    body = build_response(
        ollama_answer,
        response_id="resp_nonstream",
        model="gpt-5.4",
        echo=request.echo,
        tool_map=request.tool_map,
        sealer=SEALER,
    )
    Response.model_validate(body)
    assert body["status"] == "completed"
    assert [item["type"] for item in body["output"]] == ["reasoning", "message", "custom_tool_call"]
    assert body["usage"]["output_tokens_details"]["reasoning_tokens"] == 16  # 64 chars / 4
    client = sdk_client(orjson.dumps(body), "application/json")
    parsed = client.responses.create(model="gpt-5.4", input="hi")
    assert parsed.id == "resp_nonstream"
    assert parsed.output_text == "Patching now."


def test_build_response_failures() -> None:
    request = codex_request()
    kwargs: dict[str, Any] = {
        "response_id": "resp_x",
        "model": "gpt-5.4",
        "echo": request.echo,
        "tool_map": request.tool_map,
        "sealer": SEALER,
    }
    failed = build_response({"error": "model 'nope' not found"}, **kwargs)
    assert failed["status"] == "failed" and failed["error"]["message"] == "model 'nope' not found"
    truncated = build_response({**chunk("cut"), "done": False}, **kwargs)
    assert truncated["status"] == "failed" and truncated["error"]["message"] == UPSTREAM_ENDED_EARLY
    incomplete = build_response(
        {**done("length"), "message": {"role": "assistant", "content": "cut"}}, **kwargs
    )
    assert incomplete["status"] == "incomplete"
    for body in (failed, truncated, incomplete):
        Response.model_validate(body)


# --------------------------------------------------------------------------- cost


def test_content_delta_is_cheap() -> None:
    """Guards against accidental per-delta copies; the real budget (<= 25 us per token for the whole
    gateway) is measured by the benchmarks, this bound only catches gross regressions."""
    stream = new_stream()
    stream.opening()
    stream.feed(chunk("warm up"))
    pieces = [chunk(" token") for _ in range(20_000)]
    start = time.perf_counter()
    for piece in pieces:
        for event in stream.feed(piece):
            encode_sse(event)
    per_delta = (time.perf_counter() - start) / len(pieces)
    assert per_delta < 50e-6, f"{per_delta * 1e6:.1f} us per content delta"
