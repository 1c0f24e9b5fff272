"""The real Codex CLI against the gateway (emulator mode) and the fake Ollama.

The fake plays the model: it makes Codex read a file, patch it with the free-form ``apply_patch`` tool,
check the result with a command, and answer; then ``codex exec resume --last`` continues that conversation.
Everything between is the gateway's translation both ways. Codex is set up the way the guide says: the
one-line install of the served ``config.toml`` and model catalog.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.settings import load_settings
from plugins.emulator import codex_setup
from tests.e2e.codex_cli import install_served_setup, run_codex_exec, write_codex_home
from tests.fake_ollama import FakeOllama, Reply
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer

pytestmark = pytest.mark.e2e

# What a user's config.toml may hold before the install: root keys, then tables (another provider too).
EXISTING_CONFIG = """\
approval_policy = "never"
sandbox_mode = "danger-full-access"
check_for_update_on_startup = false

[analytics]
enabled = false

[model_providers.other]
name = "Other"
base_url = "http://127.0.0.1:9/v1"
wire_api = "responses"
"""

GREET = 'def greet(name):\n    return "Hello " + name\n'
PATCH = (
    "*** Begin Patch\n*** Update File: greet.py\n@@ def greet(name):\n"
    '-    return "Hello " + name\n+    return f"Hello, {name}!"\n*** End Patch\n'
)
CHECK = "python3 -c \"import greet; print(greet.greet('Ann'))\""

# The file the worked apply_patch example in the gateway's prompt edits, as it is before the patch.
EXAMPLE_APP = """\
class Store:
    def __init__(self) -> None:
        self.items: list[str] = []

    def addItem(self, item: str) -> None:
        self.items.append(item)


def main() -> None:
    store = Store()
    store.addItem("first")
    print(store.items)
"""


def _prompt_example_patch() -> str:
    """The worked example of the prompt: it must be a patch Codex really applies."""
    text = codex_setup.INSTRUCTIONS_FILE.read_text()
    start = text.index("*** Begin Patch\n*** Update File: src/app.py")
    return text[start : text.index("*** End Patch\n", start) + len("*** End Patch\n")]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, fake_ollama_server: FakeOllama) -> Iterator[GatewayServer]:
    """One gateway for the module (Codex runs are slow enough); heartbeats every second."""
    env = {
        "LLMGATE_DATA_DIR": str(tmp_path_factory.mktemp("gateway") / "data"),
        "LLMGATE_UPSTREAM_URL": fake_ollama_server.url,
        "LLMGATE_SECRET_KEY": "test-secret-key-0123456789-abcdefghij",
    }
    settings = load_settings(env=env, overrides={"plugins": {"emulator": {"heartbeat_seconds": 1.0}}})
    server = GatewayServer(settings).start()
    yield server
    server.stop()


def _served_setup(tmp_path: Path, gateway: GatewayServer, key: str) -> Path:
    return install_served_setup(
        tmp_path, codex_setup.install_command(gateway.url), key, existing_config=EXISTING_CONFIG
    )


def _calls(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c["function"] for m in messages if m["role"] == "assistant" for c in m.get("tool_calls", [])]


def test_served_setup_gives_codex_the_gateways_prompt_and_apply_patch(
    codex_bin: Path, tmp_path: Path, gateway: GatewayServer, fake: FakeOllama
) -> None:
    key = make_key(gateway, mode="emulator", model="qwen3:8b")
    codex_home = _served_setup(tmp_path, gateway, key)
    config = (codex_home / "config.toml").read_text()
    assert config.endswith(EXISTING_CONFIG), config  # the user's settings are kept, below ours
    workdir = tmp_path / "work"
    (workdir / "src").mkdir(parents=True)
    (workdir / "src" / "app.py").write_text(EXAMPLE_APP)
    fake.queue(
        Reply(tool_calls=[{"name": "apply_patch", "arguments": {"input": _prompt_example_patch()}}]),
        Reply(content="Renamed."),
    )
    result = run_codex_exec(codex_bin, codex_home, workdir, "rename addItem to add_item", key)
    info = result.describe()

    assert result.returncode == 0, info
    assert result.last_message is not None and result.last_message.strip() == "Renamed.", info
    assert "Model metadata" not in result.stderr, info
    app = (workdir / "src" / "app.py").read_text()
    assert "addItem" not in app and app.count("add_item") == 2, app
    assert "store.add_item" in (workdir / "tests" / "test_store.py").read_text()
    chat, _ = fake.chat_requests()
    system = chat.json["messages"][0]
    assert system["role"] == "system", chat.json["messages"][:2]
    assert codex_setup.INSTRUCTIONS_FILE.read_text() in system["content"]
    tools = {t["function"]["name"] for t in chat.json["tools"]}
    assert {"exec_command", "write_stdin", "apply_patch", "view_image"} <= tools, tools


def test_codex_reads_patches_checks_and_resumes_with_its_reasoning(
    codex_bin: Path, tmp_path: Path, gateway: GatewayServer, fake: FakeOllama
) -> None:
    key = make_key(gateway, mode="emulator", model="qwen3:8b")
    codex_home = _served_setup(tmp_path, gateway, key)
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "greet.py").write_text(GREET)
    fake.queue(
        Reply(thinking="Read greet.py first.", tool_calls=[{"name": "exec_command", "arguments": {"cmd": "cat greet.py"}}]),
        Reply(thinking="The comma is missing.", content="Patching.", tool_calls=[{"name": "apply_patch", "arguments": {"input": PATCH}}]),
        Reply(thinking="Now run it.", tool_calls=[{"name": "exec_command", "arguments": {"cmd": CHECK}}]),
        Reply(thinking="It prints the right greeting.", content="greet.py now says Hello, Ann!"),
    )  # fmt: skip
    first = run_codex_exec(codex_bin, codex_home, workdir, "fix the greeting in greet.py", key, ephemeral=False)
    info = first.describe()

    assert first.returncode == 0, info
    assert (workdir / "greet.py").read_text() == 'def greet(name):\n    return f"Hello, {name}!"\n', info
    assert first.last_message is not None and first.last_message.strip() == "greet.py now says Hello, Ann!", info
    chats = fake.chat_requests()
    assert len(chats) == 4, [r.json["messages"][-1] for r in chats]
    assert all(r.json["model"] == "qwen3:8b" for r in chats)
    read, patched, checked = (
        [m for m in chat.json["messages"] if m["role"] == "tool"][-1] for chat in chats[1:]
    )
    assert read["tool_name"] == "exec_command" and 'return "Hello " + name' in read["content"], read
    assert patched["tool_name"] == "apply_patch" and "greet.py" in patched["content"], patched
    assert checked["tool_name"] == "exec_command" and "Hello, Ann!" in checked["content"], checked
    assert any(m.get("thinking") == "The comma is missing." for m in chats[2].json["messages"])

    fake.reset()
    fake.queue(Reply(content="It lacked the comma and the exclamation mark."))
    second = run_codex_exec(
        codex_bin, codex_home, workdir, "why did you change it?", key, ephemeral=False, resume_last=True
    )
    info = second.describe()
    assert second.returncode == 0, info
    assert second.last_message is not None and "comma" in second.last_message, info
    (chat,) = fake.chat_requests()
    messages = chat.json["messages"]
    assert messages[0]["role"] == "system" and codex_setup.INSTRUCTIONS_FILE.read_text() in messages[0]["content"]
    users = [m["content"] for m in messages if m["role"] == "user"]
    assert "fix the greeting in greet.py" in users and users[-1] == "why did you change it?", users
    # The earlier turn comes back whole: its reasoning (sealed in encrypted_content, unsealed by the
    # gateway), its tool calls with their arguments, and their results.
    thinking = [m["thinking"] for m in messages if m["role"] == "assistant" and m.get("thinking")]
    assert thinking == ["Read greet.py first.", "The comma is missing.", "Now run it.", "It prints the right greeting."]
    calls = _calls(messages)
    assert [c["name"] for c in calls] == ["exec_command", "apply_patch", "exec_command"], calls
    assert calls[1]["arguments"] == {"input": PATCH}
    results = [m for m in messages if m["role"] == "tool"]
    assert [m["tool_name"] for m in results] == ["exec_command", "apply_patch", "exec_command"]
    assert "Hello, Ann!" in results[2]["content"]


def test_codex_outlasts_a_silent_upstream(
    codex_bin: Path, tmp_path: Path, gateway: GatewayServer, fake: FakeOllama
) -> None:
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
