"""Every Responses API input item type and content part: translated, refused with a 400 naming it, or
(hosted-tool items only) ignored; and `item_reference` resolution (plugins.emulator.input_translation)."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from plugins.emulator.input_translation import IGNORED_ITEMS, REFUSED_ITEMS, reference_ids, translate_input
from plugins.emulator.sealing import ThinkingSealer
from plugins.emulator.tool_mapping import ToolMap
from proxy.errors import InvalidRequest

SEALER = ThinkingSealer(b"test-secret-for-input-translation")
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
DOCS = Path(__file__).resolve().parents[3] / "docs" / "emulator.md"

# Stored items as the gateway keeps them: output items of its own responses, and an input item.
STORED: dict[str, dict[str, Any]] = {
    "rs_1": {"id": "rs_1", "type": "reasoning", "summary": [{"type": "summary_text", "text": "plan"}],
             "content": [{"type": "reasoning_text", "text": "plan"}]},
    "msg_1": {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
              "content": [{"type": "output_text", "text": "Checking.", "annotations": [], "logprobs": []}]},
    "fc_1": {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "get_weather",
             "arguments": '{"city": "Oslo"}', "status": "completed"},
    "ctc_1": {"id": "ctc_1", "type": "custom_tool_call", "call_id": "call_2", "name": "apply_patch",
              "input": "*** Begin Patch"},
    "msg_user": {"id": "msg_user", "type": "message", "role": "user", "content": "stored question"},
}  # fmt: skip


def translate(items: list[Any], references: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    return translate_input(None, items, tool_map=ToolMap(), sealer=SEALER, references=references)


def refused(items: list[Any], references: dict[str, dict[str, Any]] | None = None) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        translate(items, references)
    assert caught.value.status == 400 and caught.value.type == "invalid_request_error"
    return caught.value


# --------------------------------------------------------------------------- item_reference


def test_references_resolve_in_place_into_one_assistant_turn() -> None:
    items = [
        {"role": "user", "content": "Weather in Oslo?"},
        {"type": "item_reference", "id": "rs_1"},
        {"type": "item_reference", "id": "msg_1"},
        {"id": "fc_1"},  # `type` is optional on an item reference
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {"type": "item_reference", "id": "ctc_1"},
        {"type": "custom_tool_call_output", "call_id": "call_2", "output": "Done."},
        {"type": "item_reference", "id": "msg_user"},
    ]
    assert reference_ids(items) == ["rs_1", "msg_1", "fc_1", "ctc_1", "msg_user"]
    # Exactly what the client would get by sending the full items in their places.
    full = [
        STORED[i["id"]] if "role" not in i and i.get("type") in (None, "item_reference") else i for i in items
    ]
    assert translate(items, STORED) == translate(full)
    assert translate(items, STORED) == [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "Checking.", "thinking": "plan",
         "tool_calls": [{"id": "call_1",
                         "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Oslo"}}}]},
        {"role": "tool", "content": "sunny", "tool_name": "get_weather", "tool_call_id": "call_1"},
        {"role": "assistant", "content": "",
         "tool_calls": [{"id": "call_2", "function": {"index": 0, "name": "apply_patch",
                                                       "arguments": {"input": "*** Begin Patch"}}}]},
        {"role": "tool", "content": "Done.", "tool_name": "apply_patch", "tool_call_id": "call_2"},
        {"role": "user", "content": "stored question"},
    ]  # fmt: skip


@pytest.mark.parametrize("reference", [{"type": "item_reference", "id": "msg_gone"}, {"id": "msg_gone"}])
def test_unknown_reference_is_400_naming_the_id(reference: dict[str, Any]) -> None:
    error = refused([{"role": "user", "content": "hi"}, reference], STORED)
    assert error.param == "input[1]" and "'msg_gone'" in error.message


def test_reference_without_a_string_id_is_400() -> None:
    assert refused([{"type": "item_reference", "id": 3}]).param == "input[0].id"
    assert refused([{"type": "item_reference"}]).param == "input[0].id"


def test_references_are_not_stored_items_themselves() -> None:
    error = refused([{"id": "x"}], {"x": {"type": "item_reference", "id": "x"}})
    assert "'x'" in error.message


# --------------------------------------------------------------------------- every item type


def test_client_run_tool_calls_and_outputs_become_tool_turns() -> None:
    shot = {"type": "computer_screenshot", "image_url": f"data:image/png;base64,{PNG_B64}"}
    msgs = translate([
        {"type": "local_shell_call", "id": "lsh_1", "call_id": "ls1", "status": "completed",
         "action": {"type": "exec", "command": ["ls"], "env": {}}},
        {"type": "local_shell_call_output", "id": "ls1", "output": "a.txt"},
        {"type": "shell_call", "call_id": "sh1", "action": {"commands": ["pwd"], "timeout_ms": 1000}},
        {"type": "shell_call_output", "call_id": "sh1",
         "output": [{"stdout": "/srv", "stderr": "warn", "outcome": {"type": "exit", "exit_code": 0}}]},
        {"type": "apply_patch_call", "call_id": "ap1", "status": "completed",
         "operation": {"type": "create_file", "path": "a.txt", "diff": "+hi"}},
        {"type": "apply_patch_call_output", "call_id": "ap1", "status": "failed", "output": "exists"},
        {"type": "computer_call", "id": "cu_1", "call_id": "cu1", "status": "completed",
         "pending_safety_checks": [], "action": {"type": "click", "x": 1, "y": 2, "button": "left"}},
        {"type": "computer_call_output", "call_id": "cu1", "output": shot},
    ])  # fmt: skip
    calls = [(m["tool_calls"][0]["function"]["name"], m["tool_calls"][0]["function"]["arguments"])
             for m in msgs if m["role"] == "assistant"]  # fmt: skip
    assert calls == [
        ("local_shell", {"type": "exec", "command": ["ls"], "env": {}}),
        ("shell", {"commands": ["pwd"], "timeout_ms": 1000}),
        ("apply_patch", {"type": "create_file", "path": "a.txt", "diff": "+hi"}),
        ("computer", {"type": "click", "x": 1, "y": 2, "button": "left"}),
    ]
    results = [m for m in msgs if m["role"] == "tool"]
    assert [(m["tool_name"], m["content"]) for m in results] == [
        ("local_shell", "a.txt"),
        ("shell", "/srv\nstderr:\nwarn\nexit code: 0"),
        ("apply_patch", "exists"),
        ("computer", ""),
    ]
    assert results[3]["images"] == [PNG_B64]


def test_hosted_tool_items_are_ignored() -> None:
    hosted = [{"type": kind, "id": f"{kind}_1"} for kind in sorted(IGNORED_ITEMS)]
    assert translate([{"role": "user", "content": "hi"}, *hosted]) == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("kind", sorted(REFUSED_ITEMS))
def test_items_the_gateway_cannot_honour_are_400_naming_the_type(kind: str) -> None:
    error = refused([{"role": "user", "content": "hi"}, {"type": kind, "id": "x"}])
    assert error.param == "input[1].type" and f"'{kind}'" in error.message


def test_unknown_item_type_is_400_naming_it() -> None:
    error = refused([{"type": "hologram_call", "id": "h"}])
    assert error.param == "input[0].type" and "'hologram_call'" in error.message
    assert refused([{"content": "no role, no type, no id"}]).param == "input[0].type"


def test_every_sdk_input_item_type_is_handled_and_documented() -> None:
    """The openai SDK's input item union, type by type: nothing falls through to 'unknown'."""
    union = pytest.importorskip("openai.types.responses.response_input_item_param")

    def strings(annotation: Any) -> set[str]:  # the strings inside Required[Optional[Literal[...]]]
        if isinstance(annotation, str):
            return {annotation}
        return set().union(*(strings(a) for a in getattr(annotation, "__args__", ())))

    members = union.ResponseInputItemParam.__args__
    kinds = set().union(*(strings(get_type_hints(m, include_extras=True).get("type")) for m in members))
    assert {"message", "function_call", "item_reference", "compaction"} <= kinds
    docs = DOCS.read_text()
    for kind in sorted(kinds):
        assert f"`{kind}`" in docs, f"docs/emulator.md does not say what happens to '{kind}' items"
        try:
            translate([{"type": kind, "id": "x", "call_id": "x"}], {"x": STORED["msg_1"]})
        except InvalidRequest as error:
            assert "unknown input item type" not in error.message, kind


# --------------------------------------------------------------------------- content parts


def file_part(text: bytes, mime: str | None = "text/plain", name: str | None = "notes.txt") -> dict[str, Any]:
    data = base64.b64encode(text).decode()
    part: dict[str, Any] = {"type": "input_file", "file_data": f"data:{mime};base64,{data}" if mime else data}
    if name:
        part["filename"] = name
    return part


def test_text_files_become_message_text() -> None:
    msgs = translate([{"role": "user", "content": [
        {"type": "input_text", "text": "Summarise:"},
        file_part("line 1\nÿ line 2".encode()),
        file_part(b'{"a": 1}', mime="application/json", name="a.json"),
        file_part(b"plain base64, no data URL", mime=None, name=None),
    ]}])  # fmt: skip
    text = (
        'Summarise:\n[file notes.txt]\nline 1\nÿ line 2\n[file a.json]\n{"a": 1}\nplain base64, no data URL'
    )
    assert msgs == [{"role": "user", "content": text}]


@pytest.mark.parametrize(
    ("part", "words"),
    [
        (
            file_part(b"%PDF-1.7 ...", mime="application/pdf", name="report.pdf"),
            ["'report.pdf'", "application/pdf"],
        ),
        (file_part(b"\x89PNG\x00\x01", mime="text/plain", name="x.txt"), ["'x.txt'", "not UTF-8 text"]),
        (file_part(b"\xff\xfe bad utf-8", mime=None, name="y.bin"), ["'y.bin'"]),
        ({"type": "input_file", "file_data": "not base64!!"}, ["not UTF-8 text"]),
        ({"type": "input_file", "file_id": "file-1", "filename": "f.txt"}, ["file_id"]),
        ({"type": "input_file", "file_url": "https://example.com/f.txt"}, ["file_url"]),
        ({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}, ["'input_audio'"]),
        ({"type": "hologram", "text": "x"}, ["'hologram'"]),
    ],
)
def test_parts_the_model_cannot_read_are_400_naming_them(part: dict[str, Any], words: list[str]) -> None:
    error = refused([{"role": "user", "content": [{"type": "input_text", "text": "see"}, part]}])
    assert error.param is not None and error.param.startswith("input[0].content[1]")
    for word in words:
        assert word in error.message


def test_part_without_type_is_400() -> None:
    assert refused([{"role": "user", "content": [{"text": "x"}]}]).param == "input[0].content[0].type"


def test_translation_does_not_mutate_references() -> None:
    before = copy.deepcopy(STORED)
    translate([{"id": "fc_1"}, {"id": "msg_1"}], STORED)
    assert before == STORED
