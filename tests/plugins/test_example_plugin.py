"""The example plugin package in examples/llmgate-example, installed through the entry point its
pyproject.toml declares: its mode and route, its admission rule, its table (migrated on SQLite and
PostgreSQL) and its command all work."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fake_ollama import FakeOllama, Reply
from tests.reliability.helpers import assert_openai_error
from tests.support.accounts import make_key

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "llmgate-example"


@pytest.fixture
def example_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The package's distribution metadata, with the entry points of its pyproject.toml, on sys.path
    (what ``pip install`` leaves behind), for this process and the commands it runs."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    points = project["entry-points"]["llmgate.plugins"]
    site = tmp_path / "site"
    dist_info = site / f"llmgate_example-{project['version']}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = "".join(f"{name} = {target}\n" for name, target in points.items())
    (dist_info / "entry_points.txt").write_text("[llmgate.plugins]\n" + lines)
    paths = [str(site), str(EXAMPLE)]
    for path in reversed(paths):
        monkeypatch.syspath_prepend(path)
    return paths


def llmgate(
    tmp_path: Path, paths: list[str], database_url: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join((*paths, str(ROOT))),
        "LLMGATE_DATA_DIR": str(tmp_path / "data"),
        "LLMGATE_DATABASE_URL": database_url,
        "LLMGATE_SECRET_KEY": "test-secret-key-0123456789-abcdefghij",
    }
    env.pop("LLMGATE_CONFIG", None)
    env.pop("LLMGATE_PLUGINS_DISABLED", None)
    return subprocess.run([sys.executable, "-m", "proxy.cli", *args], env=env, cwd=tmp_path, check=False,
                          input=stdin, capture_output=True, text=True, timeout=120)  # fmt: skip


def post(url: str, key: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(url, json=body, headers={"authorization": f"Bearer {key}"}, timeout=15)


def test_the_example_plugin_mode_admission_table_and_command(
    tmp_path: Path, example_installed: list[str], database_url: str, start_gateway: Any, fake: FakeOllama
) -> None:
    # The table: `llmgate migrate` applies the plugin's migration for this database's dialect.
    migrated = llmgate(tmp_path, example_installed, database_url, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "journal/0_" in migrated.stdout

    gateway = start_gateway(database_url=database_url, overrides={"plugins": {"journal": {"max_chars": 40}}})
    assert "journal" in gateway.state.runner.modes
    key = make_key(gateway, mode="journal")

    # The mode: the model's reflection comes back and is stored.
    fake.queue(Reply(content="Rest is part of the work."))
    answer = post(gateway.url + "/v1/journal", key, {"entry": "Slept in and felt guilty."})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"id": 1, "reflection": "Rest is part of the work."}
    sent = fake.chat_requests()[0].json
    assert sent["messages"][1] == {"role": "user", "content": "Slept in and felt guilty."}
    assert sent["messages"][0]["role"] == "system" and "journal entry" in sent["messages"][0]["content"]

    # The admission rule: too long is refused in the OpenAI shape, and nothing goes upstream.
    refused = post(gateway.url + "/v1/journal", key, {"entry": "x" * 41})
    error = assert_openai_error(refused, 400, "invalid_request_error", "entry_too_long")
    assert error["message"] == "A journal entry may be 40 characters long; this one has 41."
    assert len(fake.chat_requests()) == 1
    # Bad input is named, too.
    assert_openai_error(post(gateway.url + "/v1/journal", key, {"entry": 7}), 400, "invalid_request_error")

    # The mode's route counts what the table holds; other modes' keys may not use it.
    counted = httpx.get(gateway.url + "/v1/journal/count", headers={"authorization": f"Bearer {key}"})
    assert counted.status_code == 200 and counted.json() == {"entries": 1}
    other = httpx.get(
        gateway.url + "/v1/journal/count", headers={"authorization": f"Bearer {make_key(gateway)}"}
    )
    assert_openai_error(other, 403, "permission_error", "wrong_key_mode")
    gateway.stop()

    # The command reads the same table.
    listed = llmgate(tmp_path, example_installed, database_url, "journal", "list", "alice")
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.splitlines()
    assert rows[0].split() == ["ID", "ENTRY", "REFLECTION"]
    assert "Slept in and felt guilty." in rows[1] and "Rest is part of the work." in rows[1]
    unknown = llmgate(tmp_path, example_installed, database_url, "journal", "list", "nobody")
    assert unknown.returncode == 1 and "nobody" in unknown.stderr

    # `llmgate plugins` shows the plugin with its hooks, its command and its table.
    shown = llmgate(tmp_path, example_installed, database_url, "plugins").stdout
    row = next(line for line in shown.splitlines() if line.startswith("journal "))
    hooks = ("register_modes", "admit_request", "transform_request", "register_commands")
    for part in ("llmgate-example", *hooks, "journal_entries"):
        assert part in row, (part, row)
