"""The real Vercel AI SDK (`ai` + `@ai-sdk/openai`, Responses API with `store: true` by default)
against the gateway (emulator mode) and the fake Ollama.

The SDK sends earlier output items back as `item_reference`s: these tests check it really does
(a recorder plugin sees the client's input) and that the model still receives the whole conversation.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from proxy.context import RequestContext
from proxy.hookspecs import hookimpl
from tests.e2e.vercel_ai_sdk import run_scenario
from tests.fake_ollama import FakeOllama, Reply
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer

pytestmark = pytest.mark.e2e


class InputRecorder:
    """Keeps the `input` of every request the gateway sends upstream, as the client sent it."""

    def __init__(self) -> None:
        self.inputs: list[Any] = []

    @hookimpl
    def admit_request(self, ctx: RequestContext) -> None:
        # The last hook before the mode builds the upstream request (the body is released after).
        self.inputs.append(copy.deepcopy((ctx.body or {}).get("input")))


def start(start_gateway: Any) -> tuple[GatewayServer, str, InputRecorder]:
    recorder = InputRecorder()
    gateway = start_gateway(extra_plugins={"input_recorder": recorder})
    return gateway, make_key(gateway, mode="emulator", model="qwen3:8b"), recorder


def references(items: Any) -> list[str]:
    return [item["id"] for item in items if isinstance(item, dict) and item.get("type") == "item_reference"]


@pytest.mark.parametrize("scenario", ["chat", "stream-chat"])
def test_multi_turn_chat_keeps_the_answer_and_its_thinking(
    vercel_ai_dir: Path, start_gateway, fake: FakeOllama, scenario: str
) -> None:
    gateway, key, recorder = start(start_gateway)
    fake.queue(
        Reply(thinking="They ask who I am.", content="I am Ada."), Reply(content="You asked who I am.")
    )
    result = run_scenario(vercel_ai_dir, scenario, base_url=gateway.url + "/v1", api_key=key)

    assert result["first"]["text"] == "I am Ada." and result["first"]["reasoning"] == "They ask who I am."
    assert result["second"]["text"] == "You asked who I am."
    chats = fake.chat_requests()
    assert len(chats) == 2 and all(r.json["model"] == "qwen3:8b" for r in chats)
    assert [r.json["stream"] for r in chats] == [scenario == "stream-chat"] * 2
    # The SDK sent the first answer by reference, not as text...
    referenced = references(recorder.inputs[1])
    assert [i[:3] for i in referenced] == ["rs_", "msg"], recorder.inputs[1]
    assert "I am Ada." not in str(recorder.inputs[1])
    # ...and the model still saw it, with its thinking, in its place.
    assert chats[1].json["messages"] == [
        {"role": "user", "content": "Who are you?"},
        {"role": "assistant", "content": "I am Ada.", "thinking": "They ask who I am."},
        {"role": "user", "content": "What did I ask?"},
    ]


def test_tool_loop_keeps_the_thinking_before_the_call(
    vercel_ai_dir: Path, start_gateway, fake: FakeOllama
) -> None:
    gateway, key, recorder = start(start_gateway)
    fake.queue(
        Reply(thinking="I need the weather tool.", content="Checking.",
              tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}]),
        Reply(content="Sunny in Oslo."),
    )  # fmt: skip
    result = run_scenario(vercel_ai_dir, "tools", base_url=gateway.url + "/v1", api_key=key)

    assert result["text"] == "Sunny in Oslo."
    assert [s["finishReason"] for s in result["steps"]] == ["tool-calls", "stop"]
    assert result["steps"][0]["toolCalls"] == [{"name": "get_weather", "input": {"city": "Oslo"}}]
    assert result["steps"][0]["toolResults"][0]["output"] == {"city": "Oslo", "forecast": "sunny, 21 C"}

    chats = fake.chat_requests()
    assert len(chats) == 2
    assert [i[:3] for i in references(recorder.inputs[1])] == ["rs_", "msg"], recorder.inputs[1]
    second = chats[1].json["messages"]
    assert second[0] == {"role": "user", "content": "Weather in Oslo?"}
    assistant, tool_message = second[1], second[2]
    call_id = assistant["tool_calls"][0]["id"]
    assert assistant == {
        "role": "assistant", "content": "Checking.", "thinking": "I need the weather tool.",
        "tool_calls": [{"id": call_id,
                        "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Oslo"}}}],
    }  # fmt: skip
    assert tool_message["role"] == "tool" and tool_message["tool_name"] == "get_weather"
    assert tool_message["tool_call_id"] == call_id and "sunny, 21 C" in tool_message["content"]
    assert len(second) == 3
