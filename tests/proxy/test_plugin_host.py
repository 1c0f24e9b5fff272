"""Plugins: switched off by config, essential ones refuse, a new mode from an entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from config.settings import SettingsError
from proxy.plugin_host import build_runner
from tests.fake_ollama import FakeOllama, Reply
from tests.support.accounts import make_key

ROOT = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    """The README's "Writing a mode plugin" module, verbatim: what a reader copies is what is tested."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("```python\n# llmgate_echo.py\n") + len("```python\n")
    return readme[start : readme.index("```", start)]


ECHO_PLUGIN = readme_example()


@pytest.fixture
def echo_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed distribution with an ``llmgate.plugins`` entry point, on sys.path."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "llmgate_echo.py").write_text(ECHO_PLUGIN)
    dist_info = site / "llmgate_echo-0.3.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: llmgate-echo\nVersion: 0.3.1\n")
    (dist_info / "entry_points.txt").write_text("[llmgate.plugins]\necho = llmgate_echo:EchoMode\n")
    monkeypatch.syspath_prepend(str(site))
    return site


def test_a_new_mode_is_one_module_and_one_entry_point(echo_distribution: Path, start_gateway, fake: FakeOllama) -> None:
    gateway = start_gateway()
    assert "echo" in gateway.state.runner.modes
    fake.queue(Reply(content="hello back"))
    key = make_key(gateway, mode="echo")
    response = httpx.post(gateway.url + "/v1/echo", json={"text": "hello"}, headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 200 and response.json() == {"echo": "hello back"}
    assert fake.chat_requests()[-1].json["messages"] == [{"role": "user", "content": "hello"}]
    # The echo key may not use the bypass endpoint, and the error names the endpoint it may use.
    refused = httpx.post(gateway.url + "/v1/chat/completions", json={"messages": []}, headers={"authorization": f"Bearer {key}"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "wrong_key_mode"
    assert "POST /v1/echo" in refused.json()["error"]["message"]


def test_disabled_plugin_is_not_loaded(echo_distribution: Path, make_settings) -> None:
    runner, infos = build_runner(make_settings(env={"LLMGATE_PLUGINS_DISABLED": "echo,usage_recorder"}))
    assert "echo" not in runner.modes
    states = {info.name: info.enabled for info in infos}
    assert states["echo"] is False and states["usage_recorder"] is False and states["bypass"] is True


def test_disabled_mode_refuses_its_keys(start_gateway) -> None:
    gateway = start_gateway(env={"LLMGATE_PLUGINS_DISABLED": "bypass"})
    key = make_key(gateway, mode="bypass")
    response = httpx.post(gateway.url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]},
                          headers={"authorization": f"Bearer {key}"})
    # The endpoint is gone with its mode; the answer is still the OpenAI error shape.
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found_error"
    models = httpx.get(gateway.url + "/v1/models", headers={"authorization": f"Bearer {key}"})
    assert models.status_code == 403 and models.json()["error"]["code"] == "mode_disabled"


@pytest.mark.parametrize("name", ["api_key_auth", "key_mode", "shared_upstream"])
def test_essential_plugins_refuse_to_be_disabled(make_settings, name: str) -> None:
    with pytest.raises(SettingsError, match=f"plugin {name} is essential and cannot be disabled"):
        build_runner(make_settings(env={"LLMGATE_PLUGINS_DISABLED": name}))


def test_cli_lists_plugins_with_state_hooks_and_version(echo_distribution: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(echo_distribution), str(ROOT)]),
           "LLMGATE_DATA_DIR": str(tmp_path / "data"), "LLMGATE_PLUGINS_DISABLED": "usage_recorder"}
    result = subprocess.run([sys.executable, "-m", "proxy.cli", "plugins"], env=env, capture_output=True, text=True, check=True)
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert "enabled (essential)" in lines["api_key_auth"] and "authenticate" in lines["api_key_auth"]
    assert "disabled" in lines["usage_recorder"]
    assert "0.3.1" in lines["echo"] and "llmgate-echo" in lines["echo"] and "transform_request" in lines["echo"]


def test_only_the_runner_calls_hooks() -> None:
    """One place calls hooks, so async results are always awaited and modes always scoped."""
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("proxy", "plugins", "dashboard")
        for path in (ROOT / folder).rglob("*.py")
        if path.name != "runner.py" and ".hook." in path.read_text()
    ]
    assert offenders == []
