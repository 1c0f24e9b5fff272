"""The real Codex CLI against the gateway (emulator mode) and the fake Ollama.

The fake plays the model: it makes Codex run a shell command, then apply a patch with the free-form
``apply_patch`` tool, then answer. Everything between is the gateway's translation both ways.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.codex_cli import run_codex_exec, write_codex_home
from tests.fake_ollama import FakeOllama, Reply
from tests.support.accounts import make_key

pytestmark = pytest.mark.e2e

PATCH = "*** Begin Patch\n*** Update File: target.txt\n@@\n-old line\n+new line\n*** End Patch\n"


def test_codex_runs_a_command_applies_a_patch_and_answers(
    codex_bin: Path, tmp_path: Path, start_gateway, fake: FakeOllama
) -> None:
    gateway = start_gateway()
    key = make_key(gateway, mode="emulator", model="qwen3:8b")
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "target.txt").write_text("keep me\nold line\n")
    fake.queue(
        Reply(thinking="I should create the marker first.", tool_calls=[{"name": "exec_command", "arguments": {"cmd": "echo hello > marker.txt"}}]),
        Reply(content="Now the patch.", tool_calls=[{"name": "apply_patch", "arguments": {"input": PATCH}}]),
        Reply(content="All done."),
    )  # fmt: skip
    codex_home = write_codex_home(tmp_path, base_url=gateway.url + "/v1")
    result = run_codex_exec(codex_bin, codex_home, workdir, "make the marker and patch target.txt", key)
    info = result.describe()

    assert result.returncode == 0, info
    assert (workdir / "marker.txt").read_text().strip() == "hello", info
    assert (workdir / "target.txt").read_text() == "keep me\nnew line\n", info
    assert result.last_message is not None and result.last_message.strip() == "All done.", info

    chats = fake.chat_requests()
    assert len(chats) == 3, [r.json["messages"][-1] for r in chats]
    assert all(r.json["model"] == "qwen3:8b" for r in chats)
    # Turn 2 carries the command's output as a tool message, and the replayed thinking.
    second = chats[1].json["messages"]
    tool_results = [m for m in second if m["role"] == "tool"]
    assert tool_results and tool_results[0]["tool_name"] == "exec_command", second[-3:]
    assert any(m.get("thinking") == "I should create the marker first." for m in second if m["role"] == "assistant")
    # Turn 3 replays the free-form call as the function stand-in, with apply_patch's result.
    third = chats[2].json["messages"]
    calls = [c["function"] for m in third if m["role"] == "assistant" for c in m.get("tool_calls", [])]
    assert {"index": 0, "name": "apply_patch", "arguments": {"input": PATCH}} in calls, third[-4:]
    assert any(m["role"] == "tool" and m.get("tool_name") == "apply_patch" for m in third)


def test_codex_outlasts_a_silent_upstream(codex_bin: Path, tmp_path: Path, start_gateway, fake: FakeOllama) -> None:
    gateway = start_gateway(overrides={"plugins": {"emulator": {"heartbeat_seconds": 1.0}}})
    key = make_key(gateway, mode="emulator")
    workdir = tmp_path / "work"
    workdir.mkdir()
    fake.queue(Reply(content="Worth the wait.", first_token_delay=5))
    codex_home = write_codex_home(tmp_path, base_url=gateway.url + "/v1", stream_idle_timeout_ms=3000)
    result = run_codex_exec(codex_bin, codex_home, workdir, "say something", key, timeout=60)
    info = result.describe()
    assert result.returncode == 0, info
    assert result.last_message is not None and result.last_message.strip() == "Worth the wait.", info
    assert len(fake.chat_requests()) == 1, info  # no retry: the heartbeats kept Codex waiting


def test_codex_is_told_when_its_prompt_cannot_fit(
    codex_bin: Path, tmp_path: Path, start_gateway, fake: FakeOllama
) -> None:
    # A 2k window: Codex's first request (tools and instructions) is several thousand tokens, so the
    # gateway refuses it rather than let Ollama cut it from the front.
    gateway = start_gateway(env={"LLMGATE_UPSTREAM_NUM_CTX": "2048"})
    key = make_key(gateway, mode="emulator")
    workdir = tmp_path / "work"
    workdir.mkdir()
    catalog = httpx.get(gateway.url + "/v1/codex/catalog.json", timeout=30).json()
    assert catalog["models"][0]["context_window"] == 2048
    codex_home = write_codex_home(tmp_path, base_url=gateway.url + "/v1", catalog=catalog)
    result = run_codex_exec(codex_bin, codex_home, workdir, "say hi", key, timeout=60, json_events=True)
    info = result.describe()
    assert result.returncode != 0, info
    # Codex recognised context_length_exceeded ("ran out of room in the model's context window").
    failed = [e for e in result.events if e.get("type") == "turn.failed"]
    assert failed and "context window" in failed[0]["error"]["message"], info
    assert fake.chat_requests() == [], info  # nothing reached the model to be truncated
