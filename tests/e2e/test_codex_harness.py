"""The Codex e2e harness itself works: real ``codex exec`` against the scripted Responses server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.codex_cli import run_codex_exec, write_codex_home
from tests.e2e.scripted_responses_server import (
    ScriptedResponsesServer,
    custom_tool_call_turn,
    function_call_turn,
    text_turn,
)

pytestmark = pytest.mark.e2e

API_KEY = "sk-e2e-harness-123"
PATCH = "*** Begin Patch\n*** Update File: target.txt\n@@\n-old line\n+new line\n*** End Patch\n"


def _items(body: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [item for item in body["input"] if item.get("type") == type_]


def test_codex_exec_runs_tools_and_answers(codex_bin: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "target.txt").write_text("keep me\nold line\n")

    exec_turn = function_call_turn("exec_command", {"cmd": "echo hello > marker.txt"}, call_id="call_exec_1")
    patch_turn = custom_tool_call_turn("apply_patch", PATCH, call_id="call_patch_1")
    with ScriptedResponsesServer([exec_turn, patch_turn, text_turn("All done.")]) as server:
        codex_home = write_codex_home(tmp_path, base_url=server.base_url)
        result = run_codex_exec(codex_bin, codex_home, workdir, "make the marker and patch target.txt", API_KEY)
    info = result.describe()

    assert result.returncode == 0, info
    assert (workdir / "marker.txt").read_text().strip() == "hello", info
    assert (workdir / "target.txt").read_text() == "keep me\nnew line\n", info
    assert "All done." in result.stdout, info
    assert result.last_message is not None and result.last_message.strip() == "All done.", info

    requests = server.response_requests
    assert len(requests) == 3, [r.path for r in server.requests]
    for req in requests:
        assert req.headers.get("authorization") == f"Bearer {API_KEY}"
        assert req.body["model"] == "gpt-5.4" and req.body["stream"] is True

    # turn 1 advertises exec_command (function) and apply_patch (custom, freeform grammar)
    tools = {t.get("name"): t for t in requests[0].body["tools"]}
    assert tools["exec_command"]["type"] == "function"
    assert tools["apply_patch"]["type"] == "custom"

    # turn 2 replays the function call and carries its output
    fc_outputs = _items(requests[1].body, "function_call_output")
    assert [o["call_id"] for o in fc_outputs] == ["call_exec_1"], json.dumps(requests[1].body["input"])[-2000:]
    assert [c["call_id"] for c in _items(requests[1].body, "function_call")] == ["call_exec_1"]
    assert "exited with code 0" in str(fc_outputs[0]["output"])

    # turn 3 carries both earlier outputs, the apply_patch one reporting success
    assert [o["call_id"] for o in _items(requests[2].body, "function_call_output")] == ["call_exec_1"]
    ct_outputs = _items(requests[2].body, "custom_tool_call_output")
    assert [o["call_id"] for o in ct_outputs] == ["call_patch_1"], json.dumps(requests[2].body["input"])[-2000:]
    assert [c["input"] for c in _items(requests[2].body, "custom_tool_call")] == [PATCH]
    assert "Success" in str(ct_outputs[0]["output"]), ct_outputs
