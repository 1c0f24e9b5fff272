"""Responses API request -> Ollama /api/chat body (plugins.emulator.request_translation)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from plugins.emulator.request_translation import TranslatedRequest, translate_request
from plugins.emulator.sealing import ThinkingSealer
from plugins.emulator.tool_mapping import MAX_TOOL_NAME, ToolTarget, flatten_name
from proxy.errors import InvalidRequest

CAPTURES = Path(__file__).resolve().parents[2] / "data" / "codex" / "requests"
SEALER = ThinkingSealer(b"test-secret-for-request-translation")
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def capture(name: str) -> dict[str, Any]:
    return json.loads((CAPTURES / name).read_text())["body"]


def translate(body: dict[str, Any], sealer: ThinkingSealer = SEALER) -> TranslatedRequest:
    return translate_request(body, upstream_model="qwen3:8b", sealer=sealer)


def messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return translate(body).chat["messages"]


def tool_names(result: TranslatedRequest) -> list[str]:
    return [t["function"]["name"] for t in result.chat.get("tools", [])]


# --------------------------------------------------------------------------- real Codex / SDK captures


ALL_CAPTURES = sorted(p.name for p in CAPTURES.glob("*.json"))


def test_captures_are_present() -> None:
    assert len(ALL_CAPTURES) >= 8


@pytest.mark.parametrize("name", ALL_CAPTURES)
def test_every_capture_translates(name: str) -> None:
    body = capture(name)
    before = copy.deepcopy(body)
    result = translate(body)
    chat = result.chat
    assert body == before, "translation must not mutate the request"
    assert chat["model"] == "qwen3:8b"
    assert chat["stream"] is True and result.stream is True
    assert chat["messages"], "there is always something to send"
    assert {m["role"] for m in chat["messages"]} <= {"system", "user", "assistant", "tool"}
    for tool in chat.get("tools", []):
        assert tool["type"] == "function"
        assert set(tool["function"]) == {"name", "description", "parameters"}
    # Hosted tools never go upstream, yet the echo keeps the client's tools as sent.
    assert result.echo["tools"] == body.get("tools", [])


def test_codex_turn1_developer_becomes_system_and_tools_are_translated() -> None:
    body = capture("codex_fc_turn1_catalog_gpt54.json")
    result = translate(body)
    msgs = result.chat["messages"]
    # Two leading developer messages -> one system message (joined), then the two user messages.
    assert [m["role"] for m in msgs] == ["system", "user", "user"]
    assert msgs[0]["content"].startswith("You are Codex")
    second_dev = body["input"][1]["content"][0]["text"]
    assert second_dev in msgs[0]["content"]
    assert msgs[-1]["content"] == "run a shell command that echoes hi"
    assert result.chat["think"] == "medium"
    assert result.include_encrypted is True
    # tool_search and web_search are dropped; the eight function/custom tools remain.
    assert tool_names(result) == [
        "exec_command",
        "write_stdin",
        "request_user_input",
        "apply_patch",
        "view_image",
        "get_goal",
        "create_goal",
        "update_goal",
    ]
    assert result.tool_map["apply_patch"] == ToolTarget("custom", "apply_patch", None)
    assert result.tool_map["exec_command"] == ToolTarget("function", "exec_command", None)
    assert "web_search" not in result.tool_map and "tool_search" not in result.tool_map


def test_codex_apply_patch_custom_tool_becomes_function_with_input() -> None:
    body = capture("codex_fc_turn1_catalog_gpt54.json")
    grammar = next(t for t in body["tools"] if t["name"] == "apply_patch")["format"]["definition"]
    tool = next(t for t in translate(body).chat["tools"] if t["function"]["name"] == "apply_patch")
    params = tool["function"]["parameters"]
    assert params["required"] == ["input"]
    assert list(params["properties"]) == ["input"]
    assert params["properties"]["input"]["type"] == "string"
    assert grammar in params["properties"]["input"]["description"]
    assert "lark" in params["properties"]["input"]["description"]
    assert tool["function"]["description"].startswith("The `apply_patch` tool can be used to edit files.")
    assert "`input`" in tool["function"]["description"]


def test_codex_function_call_history_and_tool_name_on_result() -> None:
    body = capture("codex_fc_followup_catalog_gpt54.json")
    msgs = messages(body)
    call_item = body["input"][4]
    assert msgs[-2] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": call_item["call_id"],
                "function": {
                    "index": 0,
                    "name": "exec_command",
                    "arguments": json.loads(call_item["arguments"]),
                },
            }
        ],
    }
    assert msgs[-1]["role"] == "tool"
    assert msgs[-1]["tool_name"] == "exec_command"
    assert msgs[-1]["tool_call_id"] == call_item["call_id"]
    assert msgs[-1]["content"] == body["input"][5]["output"]


def test_codex_custom_tool_call_history_becomes_input_argument() -> None:
    body = capture("codex_followup_reasoning_custom_tool_call_output.json")
    msgs = messages(body)
    patch = body["input"][5]["input"]
    assistant, tool = msgs[-2], msgs[-1]
    assert assistant["tool_calls"][0]["function"] == {
        "index": 0,
        "name": "apply_patch",
        "arguments": {"input": patch},
    }
    # The capture's encrypted_content is a foreign token ("STUB-ENCRYPTED-..."): ignored, no thinking.
    assert "thinking" not in assistant
    assert tool == {
        "role": "tool",
        "content": body["input"][6]["output"],
        "tool_name": "apply_patch",
        "tool_call_id": body["input"][5]["call_id"],
    }


def test_codex_foreign_encrypted_content_is_ignored_even_with_raw_content() -> None:
    body = capture("codex_followup_reasoning_with_raw_content.json")
    assistant = messages(body)[-2]
    assert assistant["role"] == "assistant" and "thinking" not in assistant


def test_codex_reasoning_replay_restores_sealed_thinking() -> None:
    body = capture("codex_followup_reasoning_with_raw_content.json")
    body["input"][4]["encrypted_content"] = SEALER.seal("I should run echo first.")
    assistant = messages(body)[-2]
    assert assistant["thinking"] == "I should run echo first."
    assert assistant["tool_calls"][0]["function"]["name"] == "exec_command"


def test_codex_namespace_tools_are_flattened() -> None:
    body = capture("codex_second_turn_resume_assistant_history.json")
    result = translate(body)
    names = tool_names(result)
    namespace = next(t for t in body["tools"] if t["type"] == "namespace")
    for member in namespace["tools"]:
        flat = f"multi_agent_v1__{member['name']}"
        assert flat in names
        assert result.tool_map[flat] == ToolTarget("function", member["name"], "multi_agent_v1")
    assert "web_search" not in names
    # reasoning {"summary": "auto"} has no effort: think stays unset.
    assert "think" not in result.chat
    assert [m["role"] for m in result.chat["messages"]][-3:] == ["user", "assistant", "user"]
    assert result.chat["messages"][-2]["content"] == "hello"


def test_codex_output_schema_and_high_effort() -> None:
    body = capture("codex_output_schema_reasoning_high.json")
    result = translate(body)
    assert result.chat["format"] == body["text"]["format"]["schema"]
    assert result.chat["think"] == "high"
    assert result.echo["text"]["format"]["name"] == "codex_output_schema"
    assert result.echo["text"]["verbosity"] == "high"
    assert result.echo["reasoning"] == {"effort": "high", "summary": "detailed"}


def test_codex_compaction_request_without_tools() -> None:
    result = translate(capture("codex_auto_compaction_request.json"))
    assert "tools" not in result.chat
    assert result.chat["messages"][-1]["content"].startswith(
        "You are performing a CONTEXT CHECKPOINT COMPACTION"
    )
    assert result.echo["parallel_tool_calls"] is False


def test_sdk_capture_with_instructions() -> None:
    result = translate(capture("openai_python_sdk_stream_request.json"))
    assert result.chat["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "say hello"},
    ]
    assert tool_names(result) == ["exec_command"]
    assert result.include_encrypted is False
    assert result.echo["instructions"] == "be brief"


# --------------------------------------------------------------------------- input rules


def test_string_input_defaults() -> None:
    result = translate({"model": "gpt-5.4", "input": "hi"})
    assert result.chat == {
        "model": "qwen3:8b",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
        # truncation "disabled" (the default): Ollama must refuse an oversized prompt, not cut it.
        "truncate": False,
    }
    assert result.stream is False
    echo = result.echo
    assert echo["tool_choice"] == "auto"
    assert echo["parallel_tool_calls"] is True
    assert echo["metadata"] == {}
    assert echo["tools"] == []
    assert echo["instructions"] is None
    assert echo["temperature"] == 1.0 and echo["top_p"] == 1.0
    assert echo["text"] == {"format": {"type": "text"}, "verbosity": "medium"}
    assert echo["reasoning"] == {"effort": None, "summary": None}
    assert echo["truncation"] == "disabled"
    assert echo["max_output_tokens"] is None


def test_instructions_only_is_enough() -> None:
    assert messages({"instructions": "say hi"}) == [{"role": "system", "content": "say hi"}]


@pytest.mark.parametrize("body", [{}, {"input": None}, {"input": None, "instructions": ""}])
def test_missing_input_is_400(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as err:
        translate(body)
    assert err.value.param == "input"
    assert err.value.status == 400


def test_roles_and_content_parts() -> None:
    msgs = messages(
        {
            "input": [
                {"type": "message", "role": "system", "content": "sys"},
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "look"},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "ok"}, {"type": "refusal", "refusal": "no"}],
                },
                {"role": "developer", "content": [{"type": "input_text", "text": "later dev note"}]},
            ]
        }
    )
    assert msgs == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "look"},
        {"role": "assistant", "content": "ok\nno"},
        {"role": "system", "content": "later dev note"},
    ]


def test_images_data_url_and_http_url() -> None:
    msgs = messages(
        {
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "what is this"},
                        {"type": "input_image", "image_url": f"data:image/png;base64,{PNG_B64}"},
                        {"type": "input_image", "image_url": "https://example.com/cat.png"},
                    ],
                }
            ]
        }
    )
    assert msgs[0]["images"] == [PNG_B64]
    assert msgs[0]["content"].startswith("what is this")
    assert "https://example.com/cat.png" in msgs[0]["content"]  # kept as a note, not fetched


def test_consecutive_tool_calls_merge_with_preceding_text() -> None:
    msgs = messages(
        {
            "input": [
                {"role": "user", "content": "list and patch"},
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Doing both."}],
                },
                {
                    "type": "function_call",
                    "call_id": "c1",
                    "name": "exec_command",
                    "arguments": '{"cmd":"ls"}',
                },
                {
                    "type": "custom_tool_call",
                    "call_id": "c2",
                    "name": "apply_patch",
                    "input": "*** Begin Patch\n",
                },
                {
                    "type": "function_call",
                    "call_id": "c3",
                    "name": "view_image",
                    "arguments": {"path": "a.png"},
                },
                {"type": "function_call_output", "call_id": "c1", "output": "a.txt"},
                {"type": "custom_tool_call_output", "call_id": "c2", "output": "Done"},
                {
                    "type": "function_call_output",
                    "call_id": "c3",
                    "output": [
                        {"type": "input_text", "text": "image:"},
                        {"type": "input_image", "image_url": f"data:image/png;base64,{PNG_B64}"},
                    ],
                },
            ]
        }
    )
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "tool", "tool"]
    assistant = msgs[1]
    assert assistant["content"] == "Doing both."
    assert assistant["tool_calls"] == [
        {"id": "c1", "function": {"index": 0, "name": "exec_command", "arguments": {"cmd": "ls"}}},
        {
            "id": "c2",
            "function": {"index": 1, "name": "apply_patch", "arguments": {"input": "*** Begin Patch\n"}},
        },
        {"id": "c3", "function": {"index": 2, "name": "view_image", "arguments": {"path": "a.png"}}},
    ]
    assert [(m["tool_name"], m["tool_call_id"]) for m in msgs[2:]] == [
        ("exec_command", "c1"),
        ("apply_patch", "c2"),
        ("view_image", "c3"),
    ]
    assert msgs[4]["content"] == "image:" and msgs[4]["images"] == [PNG_B64]


def test_tool_calls_after_a_tool_result_start_a_new_assistant_message() -> None:
    msgs = messages(
        {
            "input": [
                {"role": "user", "content": "go"},
                {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "a", "output": "1"},
                {"type": "function_call", "call_id": "b", "name": "f", "arguments": ""},
                {"type": "function_call_output", "call_id": "b", "output": "2"},
            ]
        }
    )
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "assistant", "tool"]
    assert msgs[3]["tool_calls"][0]["function"] == {"index": 0, "name": "f", "arguments": {}}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ({"a": 1}, {"a": 1}),
        ("", {}),
        ("not json", {"input": "not json"}),
        ("[1, 2]", {"input": [1, 2]}),
    ],
)
def test_function_call_arguments_forms(raw: Any, expected: dict[str, Any]) -> None:
    msgs = messages({"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": raw}]})
    assert msgs[0]["tool_calls"][0]["function"]["arguments"] == expected


def test_orphan_tool_output_has_no_tool_name() -> None:
    msgs = messages({"input": [{"type": "function_call_output", "call_id": "zz", "output": "x"}]})
    assert msgs == [{"role": "tool", "content": "x", "tool_call_id": "zz"}]


def test_hosted_tool_items_are_ignored() -> None:
    msgs = messages(
        {
            "input": [
                {"type": "web_search_call", "id": "ws_1", "status": "completed"},
                {"type": "compaction", "encrypted_content": "x"},
                {"role": "user", "content": "hi"},
            ]
        }
    )
    assert msgs == [{"role": "user", "content": "hi"}]


def test_namespaced_call_in_history_uses_flattened_name() -> None:
    msgs = messages(
        {
            "tools": [
                {
                    "type": "namespace",
                    "name": "multi_agent_v1",
                    "description": "agents",
                    "tools": [{"type": "function", "name": "spawn_agent", "parameters": {"type": "object"}}],
                }
            ],
            "input": [
                {
                    "type": "function_call",
                    "call_id": "c",
                    "name": "spawn_agent",
                    "namespace": "multi_agent_v1",
                    "arguments": "{}",
                },
                {"type": "function_call_output", "call_id": "c", "output": "ok"},
            ],
        }
    )
    assert msgs[0]["tool_calls"][0]["function"]["name"] == "multi_agent_v1__spawn_agent"
    assert msgs[1]["tool_name"] == "multi_agent_v1__spawn_agent"


# --------------------------------------------------------------------------- reasoning replay


def test_sealed_reasoning_goes_on_the_next_assistant_message() -> None:
    msgs = messages(
        {
            "input": [
                {"role": "user", "content": "q"},
                {
                    "type": "reasoning",
                    "id": "rs_1",
                    "summary": [],
                    "encrypted_content": SEALER.seal("secret plan"),
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Answer"}],
                },
                {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            ]
        }
    )
    assert msgs[1] == {
        "role": "assistant",
        "content": "Answer",
        "thinking": "secret plan",
        "tool_calls": [{"id": "c", "function": {"index": 0, "name": "f", "arguments": {}}}],
    }


def test_sealed_reasoning_before_tool_calls_creates_the_assistant_message() -> None:
    msgs = messages(
        {
            "input": [
                {"role": "user", "content": "q"},
                {
                    "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": "shown"}],
                    "encrypted_content": SEALER.seal("real"),
                },
                {"type": "custom_tool_call", "call_id": "c", "name": "apply_patch", "input": "p"},
            ]
        }
    )
    assert msgs[1]["thinking"] == "real" and msgs[1]["content"] == ""
    assert msgs[1]["tool_calls"][0]["function"]["arguments"] == {"input": "p"}


def test_tampered_or_foreign_encrypted_content_is_ignored() -> None:
    token = SEALER.seal("original thinking")
    tampered = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    other = ThinkingSealer(b"another-gateway").seal("theirs")
    for bad in (tampered, other, "STUB-ENCRYPTED-123", "lg1.!!!"):
        msgs = messages(
            {
                "input": [
                    {
                        "type": "reasoning",
                        "summary": [{"type": "summary_text", "text": "summary"}],
                        "encrypted_content": bad,
                    },
                    {"role": "assistant", "content": "a"},
                ]
            }
        )
        assert msgs == [{"role": "assistant", "content": "a"}], bad


def test_reasoning_without_encrypted_content_uses_content_then_summary() -> None:
    with_content = {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "short"}],
        "content": [{"type": "reasoning_text", "text": "raw thoughts"}],
    }
    summary_only = {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "short"}],
        "encrypted_content": None,
    }
    assistant = {"role": "assistant", "content": "a"}
    assert messages({"input": [with_content, assistant]})[0]["thinking"] == "raw thoughts"
    assert messages({"input": [summary_only, assistant]})[0]["thinking"] == "short"


def test_thinking_not_followed_by_an_assistant_turn_is_dropped() -> None:
    msgs = messages(
        {
            "input": [
                {"type": "reasoning", "summary": [], "encrypted_content": SEALER.seal("x")},
                {"role": "user", "content": "u"},
            ]
        }
    )
    assert msgs == [{"role": "user", "content": "u"}]


# --------------------------------------------------------------------------- tools


def test_function_tool_shape_and_unknown_tool_types_dropped() -> None:
    result = translate(
        {
            "input": "x",
            "tools": [
                {
                    "type": "function",
                    "name": "get",
                    "description": "d",
                    "parameters": {"type": "object", "properties": {"a": {}}},
                },
                {"type": "function", "name": "bare"},
                {"type": "web_search"},
                {"type": "tool_search", "execution": "client"},
                {"type": "local_shell"},
                {"type": "file_search", "vector_store_ids": []},
                {
                    "type": "computer_use_preview",
                    "display_width": 1,
                    "display_height": 1,
                    "environment": "linux",
                },
                {"type": "image_generation"},
                {"type": "mcp", "server_label": "x"},
                {"type": "brand_new_tool_kind", "whatever": 1},
            ],
        }
    )
    assert result.chat["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get",
                "description": "d",
                "parameters": {"type": "object", "properties": {"a": {}}},
            },
        },
        {
            "type": "function",
            "function": {
                "name": "bare",
                "description": "",
                "parameters": {"type": "object", "properties": {}},
            },
        },
    ]
    assert set(result.tool_map) == {"get", "bare"}


def test_custom_tool_without_grammar() -> None:
    result = translate(
        {"input": "x", "tools": [{"type": "custom", "name": "note", "description": "Write a note."}]}
    )
    fn = result.chat["tools"][0]["function"]
    assert fn["name"] == "note"
    assert fn["parameters"]["required"] == ["input"]
    assert fn["description"].startswith("Write a note.")
    assert result.tool_map["note"] == ToolTarget("custom", "note", None)


def test_tool_choice_none_sends_no_tools_but_keeps_the_map() -> None:
    result = translate({"input": "x", "tool_choice": "none", "tools": [{"type": "function", "name": "f"}]})
    assert "tools" not in result.chat
    assert "f" in result.tool_map
    assert result.echo["tool_choice"] == "none"


def test_named_tool_choice_restricts_tools() -> None:
    tools = [
        {"type": "function", "name": "a"},
        {"type": "function", "name": "b"},
        {"type": "custom", "name": "c"},
    ]
    result = translate({"input": "x", "tools": tools, "tool_choice": {"type": "function", "name": "b"}})
    assert tool_names(result) == ["b"]
    allowed = {
        "type": "allowed_tools",
        "mode": "auto",
        "tools": [{"type": "function", "name": "a"}, {"type": "custom", "name": "c"}],
    }
    assert tool_names(translate({"input": "x", "tools": tools, "tool_choice": allowed})) == ["a", "c"]


def test_flattened_names_respect_openai_name_rules() -> None:
    long_ns = "n" * 50
    flat = flatten_name(long_ns, "tool.with spaces" + "x" * 30)
    assert len(flat) <= MAX_TOOL_NAME
    assert all(c.isalnum() or c in "_-" for c in flat)
    assert flatten_name(long_ns, "a" * 40) != flatten_name(long_ns, "a" * 41)
    assert flatten_name("mcp__github__", "create_issue") == "mcp__github__create_issue"


def test_flattened_name_collision_gets_a_distinct_name() -> None:
    result = translate(
        {
            "input": "x",
            "tools": [
                {"type": "function", "name": "ns__f"},
                {
                    "type": "namespace",
                    "name": "ns",
                    "description": "",
                    "tools": [{"type": "function", "name": "f"}],
                },
            ],
        }
    )
    names = tool_names(result)
    assert len(set(names)) == 2
    assert result.tool_map["ns__f"] == ToolTarget("function", "ns__f", None)
    other = next(n for n in names if n != "ns__f")
    assert result.tool_map[other] == ToolTarget("function", "f", "ns")


def test_namespace_custom_member() -> None:
    result = translate(
        {
            "input": "x",
            "tools": [
                {
                    "type": "namespace",
                    "name": "edit",
                    "description": "",
                    "tools": [{"type": "custom", "name": "patch"}],
                }
            ],
        }
    )
    assert result.tool_map["edit__patch"] == ToolTarget("custom", "patch", "edit")


def test_chat_completions_style_function_tool_is_tolerated() -> None:
    result = translate(
        {
            "input": "x",
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        }
    )
    assert tool_names(result) == ["f"]


# --------------------------------------------------------------------------- reasoning effort and options


@pytest.mark.parametrize(
    ("effort", "think"),
    [
        ("none", False),
        ("minimal", "low"),
        ("low", "low"),
        ("medium", "medium"),
        ("high", "high"),
        ("xhigh", "high"),
    ],
)
def test_reasoning_effort_to_think(effort: str, think: Any) -> None:
    assert translate({"input": "x", "reasoning": {"effort": effort}}).chat["think"] == think


def test_no_effort_leaves_think_unset() -> None:
    assert "think" not in translate({"input": "x"}).chat
    assert "think" not in translate({"input": "x", "reasoning": {"summary": "auto"}}).chat
    assert "think" not in translate({"input": "x", "reasoning": None}).chat


def test_sampling_options() -> None:
    result = translate({"input": "x", "max_output_tokens": 256, "temperature": 0.2, "top_p": 0.9})
    assert result.chat["options"] == {"num_predict": 256, "temperature": 0.2, "top_p": 0.9}
    assert result.echo["max_output_tokens"] == 256
    assert result.echo["temperature"] == 0.2 and result.echo["top_p"] == 0.9


def test_text_formats() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    js = translate(
        {
            "input": "x",
            "text": {"format": {"type": "json_schema", "name": "s", "schema": schema, "strict": True}},
        }
    )
    assert js.chat["format"] == schema
    assert translate({"input": "x", "text": {"format": {"type": "json_object"}}}).chat["format"] == "json"
    assert "format" not in translate({"input": "x", "text": {"format": {"type": "text"}}}).chat
    assert "format" not in translate({"input": "x", "text": {"verbosity": "low"}}).chat


def test_echo_of_request_fields() -> None:
    echo = translate(
        {
            "input": "x",
            "metadata": {"k": "v"},
            "store": False,
            "parallel_tool_calls": False,
            "prompt_cache_key": "pck",
            "previous_response_id": "resp_prev",
            "user": "u1",
            "truncation": "auto",
            "service_tier": "auto",
            "reasoning": {"effort": "low", "summary": "auto"},
        }
    ).echo
    assert echo["metadata"] == {"k": "v"}
    assert echo["store"] is False
    assert echo["parallel_tool_calls"] is False
    assert echo["prompt_cache_key"] == "pck"
    assert echo["previous_response_id"] == "resp_prev"
    assert echo["user"] == "u1"
    assert echo["truncation"] == "auto"
    assert echo["service_tier"] == "default"
    assert echo["reasoning"] == {"effort": "low", "summary": "auto"}


def test_truncation_auto_leaves_ollama_its_own_truncation() -> None:
    assert "truncate" not in translate({"input": "x", "truncation": "auto"}).chat
    assert translate({"input": "x", "truncation": "disabled"}).chat["truncate"] is False


def test_unknown_fields_are_ignored() -> None:
    result = translate(
        {"input": "x", "client_metadata": {"a": 1}, "some_future_field": [1, 2], "include": ["x"]}
    )
    assert result.chat["messages"] == [{"role": "user", "content": "x"}]


# --------------------------------------------------------------------------- wrong types


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": 5}, "input"),
        ({"input": {"role": "user"}}, "input"),
        ({"input": ["hi"]}, "input[0]"),
        ({"input": [{"role": "user", "content": 3}]}, "input[0].content"),
        ({"input": [{"role": "user", "content": ["x"]}]}, "input[0].content[0]"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_text", "text": 1}]}]},
            "input[0].content[0].text",
        ),
        ({"input": [{"role": 7, "content": "x"}]}, "input[0].role"),
        ({"input": [{"role": "critic", "content": "x"}]}, "input[0].role"),
        (
            {"input": [{"type": "function_call", "call_id": "c", "name": 1, "arguments": "{}"}]},
            "input[0].name",
        ),
        ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
        (
            {"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": 12}]},
            "input[0].arguments",
        ),
        ({"input": [{"type": "function_call_output", "call_id": "c", "output": 1}]}, "input[0].output"),
        (
            {"input": [{"type": "custom_tool_call", "call_id": "c", "name": "p", "input": {}}]},
            "input[0].input",
        ),
        ({"input": "x", "instructions": ["a"]}, "instructions"),
        ({"input": "x", "stream": "yes"}, "stream"),
        ({"input": "x", "tools": {}}, "tools"),
        ({"input": "x", "tools": ["f"]}, "tools[0]"),
        ({"input": "x", "tools": [{"type": "function"}]}, "tools[0].name"),
        (
            {"input": "x", "tools": [{"type": "function", "name": "f", "parameters": "{}"}]},
            "tools[0].parameters",
        ),
        ({"input": "x", "tools": [{"type": "namespace", "name": "n", "tools": {}}]}, "tools[0].tools"),
        (
            {
                "input": "x",
                "tools": [{"type": "namespace", "name": "n", "tools": [{"type": "function", "name": 2}]}],
            },
            "tools[0].tools[0].name",
        ),
        ({"input": "x", "tool_choice": 1}, "tool_choice"),
        ({"input": "x", "tool_choice": "sometimes"}, "tool_choice"),
        ({"input": "x", "temperature": "hot"}, "temperature"),
        ({"input": "x", "temperature": True}, "temperature"),
        ({"input": "x", "top_p": [1]}, "top_p"),
        ({"input": "x", "max_output_tokens": "10"}, "max_output_tokens"),
        ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"input": "x", "parallel_tool_calls": "true"}, "parallel_tool_calls"),
        ({"input": "x", "metadata": []}, "metadata"),
        ({"input": "x", "reasoning": "high"}, "reasoning"),
        ({"input": "x", "reasoning": {"effort": 3}}, "reasoning.effort"),
        ({"input": "x", "text": "json"}, "text"),
        ({"input": "x", "text": {"format": "json"}}, "text.format"),
        ({"input": "x", "text": {"format": {"type": "yaml"}}}, "text.format.type"),
        ({"input": "x", "text": {"format": {"type": "json_schema", "name": "s"}}}, "text.format.schema"),
        (
            {"input": "x", "text": {"format": {"type": "json_schema", "name": "s", "schema": "x"}}},
            "text.format.schema",
        ),
        ({"input": "x", "store": 1}, "store"),
        ({"input": "x", "user": 1}, "user"),
        ({"input": "x", "include": "reasoning.encrypted_content"}, "include"),
    ],
)
def test_wrong_types_are_invalid_request_naming_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        translate(body)
    assert err.value.param == param
    assert err.value.status == 400
    assert err.value.type == "invalid_request_error"
    assert f"'{param}'" in err.value.message


def test_body_must_be_an_object() -> None:
    with pytest.raises(InvalidRequest):
        translate_request(["input"], upstream_model="m", sealer=SEALER)  # type: ignore[arg-type]


def test_tool_map_resolve_is_exact_first_and_refuses_ambiguity() -> None:
    result = translate(
        {
            "input": "x",
            "tools": [
                {
                    "type": "namespace",
                    "name": "a",
                    "description": "",
                    "tools": [{"type": "function", "name": "run"}],
                },
                {
                    "type": "namespace",
                    "name": "b",
                    "description": "",
                    "tools": [{"type": "function", "name": "run"}],
                },
                {"type": "function", "name": "solo"},
            ],
        }
    )
    tool_map = result.tool_map
    assert tool_map.resolve("a__run") == ToolTarget("function", "run", "a")
    assert tool_map.resolve("run") is None  # two namespaces have it
    assert tool_map.resolve("functions.solo") == ToolTarget("function", "solo", None)
    assert tool_map.resolve("missing") is None
