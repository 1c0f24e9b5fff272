"""Connect Codex: the one-line install, the served config.toml, and the prompt the catalog carries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import httpx
import pytest

from config.settings import SettingsError
from plugins.emulator import codex_setup
from tests.fake_ollama import FakeOllama
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer

CAPTURED_TURN = Path(__file__).parents[2] / "data" / "codex" / "requests" / "codex_fc_turn1_catalog_gpt54.json"
USER_CONFIG = '[projects."/src/app"]\ntrust_level = "trusted"\n'


def _install(tmp_path: Path, server_url: str, api_key: str) -> Path:
    if shutil.which("curl") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the install test: curl is not on PATH")
        pytest.skip("curl is not on PATH")
    codex_home = tmp_path / "codex_home"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(USER_CONFIG)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CODEX_HOME": str(codex_home),
           "LLMGATE_API_KEY": api_key, "NO_PROXY": "*"}  # fmt: skip
    command = codex_setup.install_command(server_url)
    proc = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    return codex_home


def test_the_install_line_saves_the_catalog_and_puts_the_provider_above_the_users_tables(
    gateway: GatewayServer, fake: FakeOllama, tmp_path: Path
) -> None:
    key = make_key(gateway, mode="emulator", model="qwen3:8b")
    codex_home = _install(tmp_path, gateway.url, key)

    text = (codex_home / "config.toml").read_text()
    assert text.endswith(USER_CONFIG)
    config = tomllib.loads(text)
    assert config["model"] == "gpt-5.4" and config["model_provider"] == "llmgate"
    assert config["model_catalog_json"] == "llmgate-catalog.json"  # Codex reads it beside config.toml
    provider = config["model_providers"]["llmgate"]
    assert provider["base_url"] == gateway.url + "/v1" and provider["env_key"] == "LLMGATE_API_KEY"
    assert config["projects"] == {"/src/app": {"trust_level": "trusted"}}  # the user's table, untouched
    assert codex_setup.install_command(gateway.url) in text  # the served file says how to install it

    (entry,) = json.loads((codex_home / "llmgate-catalog.json").read_text())["models"]
    assert entry["base_instructions"] == codex_setup.INSTRUCTIONS_FILE.read_text()
    catalog_requests = [r for r in fake.requests if r.path == "/api/show"]
    assert catalog_requests and catalog_requests[-1].json["model"] == "qwen3:8b"  # fetched with the key


def test_the_prompt_covers_the_tools_codex_sends() -> None:
    prompt = codex_setup.INSTRUCTIONS_FILE.read_text()
    body = json.loads(CAPTURED_TURN.read_text())["body"]
    sent = {t["name"] for t in body["tools"] if t.get("name") in {
        "exec_command", "write_stdin", "apply_patch", "view_image", "request_user_input"}}  # fmt: skip
    assert len(sent) == 5
    for name in [*sent, "update_plan"]:
        assert f"## {name}" in prompt, name
    grammar = next(t for t in body["tools"] if t.get("name") == "apply_patch")["format"]["definition"]
    for marker in ("*** Begin Patch", "*** End Patch", "*** Add File: ", "*** Delete File: ",
                   "*** Update File: ", "*** Move to: ", "*** End of File"):  # fmt: skip
        assert f'"{marker}"' in grammar and marker.strip() in prompt, marker
    assert "AGENTS.md" in prompt and "require_escalated" in prompt and len(prompt) > 5000


def test_operators_replace_the_prompt_with_text_or_a_file(tmp_path: Path) -> None:
    own = tmp_path / "prompt.md"
    own.write_text("Our house rules.\n")
    assert codex_setup.base_instructions({}) == codex_setup.INSTRUCTIONS_FILE.read_text()
    assert codex_setup.base_instructions({"codex_base_instructions_file": str(own)}) == "Our house rules.\n"
    both = {"codex_base_instructions": "Inline.", "codex_base_instructions_file": str(own)}
    assert codex_setup.base_instructions(both) == "Inline."
    with pytest.raises(SettingsError, match="cannot read"):
        codex_setup.base_instructions({"codex_base_instructions_file": str(tmp_path / "missing.md")})
    (tmp_path / "empty.md").write_text("\n")
    with pytest.raises(SettingsError, match="is empty"):
        codex_setup.base_instructions({"codex_base_instructions_file": str(tmp_path / "empty.md")})
    with pytest.raises(SettingsError, match="must be a string"):
        codex_setup.base_instructions({"codex_base_instructions": 5})


def test_the_catalog_serves_the_operators_prompt_file(start_gateway, fake: FakeOllama, tmp_path: Path) -> None:
    own = tmp_path / "prompt.md"
    own.write_text("Our house rules.\n")
    gateway = start_gateway(overrides={"plugins": {"emulator": {"codex_base_instructions_file": str(own)}}})
    (entry,) = httpx.get(gateway.url + codex_setup.CATALOG_PATH).json()["models"]
    assert entry["base_instructions"] == "Our house rules.\n"
