"""A third-party plugin's table and command: installed through a real entry point, its migrations
applied by ``llmgate migrate`` on SQLite and PostgreSQL, its command working against its table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_SOURCE = Path(__file__).resolve().parent / "third_party"


@pytest.fixture
def notes_installed(tmp_path: Path) -> Path:
    """A distribution ``llmgate-notes`` whose ``llmgate.plugins`` entry point ``notes`` is the plugin."""
    site = tmp_path / "site"
    dist_info = site / "llmgate_notes-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: llmgate-notes\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[llmgate.plugins]\nnotes = llmgate_notes\n")
    return site


@pytest.fixture
def llmgate(tmp_path: Path, notes_installed: Path, database_url: str):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join((str(notes_installed), str(PLUGIN_SOURCE), str(ROOT))),
        "LLMGATE_DATA_DIR": str(tmp_path / "data"),
        "LLMGATE_DATABASE_URL": database_url,
        "LLMGATE_SECRET_KEY": "test-secret-key-0123456789-abcdefghij",
    }
    env.pop("LLMGATE_CONFIG", None)
    env.pop("LLMGATE_PLUGINS_DISABLED", None)

    def run(*args: str, stdin: str | None = None, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "proxy.cli", *args], env={**env, **(extra_env or {})}, cwd=tmp_path, check=False,
            input=stdin, capture_output=True, text=True, timeout=120,
        )

    return run


def test_migrate_creates_the_plugins_table_and_its_command_uses_it(llmgate) -> None:
    migrated = llmgate("migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "notes/0_" in migrated.stdout  # applied after the core's, under the plugin's name
    again = llmgate("migrate")
    assert "applied 0 migration" in again.stdout, again.stdout

    assert llmgate("user", "create", "alice", "--password-stdin", stdin="correct horse battery\n").returncode == 0
    added = llmgate("note", "add", "alice", "buy milk")
    assert added.returncode == 0 and "noted for alice" in added.stdout, added.stderr
    listing = llmgate("note", "list")
    assert listing.returncode == 0, listing.stderr
    assert ["alice", "buy", "milk"] == listing.stdout.splitlines()[1].split()

    shown = llmgate("plugins").stdout
    notes_row = next(line for line in shown.splitlines() if line.startswith("notes "))
    assert "llmgate-notes" in notes_row and "register_models" in notes_row
    assert " note " in notes_row and "notes_plugin_notes" in notes_row
    ollama_row = next(line for line in shown.splitlines() if line.startswith("ollama_keys "))
    assert "ollama-key" in ollama_row


def test_a_disabled_plugins_command_is_not_offered(llmgate) -> None:
    refused = llmgate("note", "list", extra_env={"LLMGATE_PLUGINS_DISABLED": "notes"})
    assert refused.returncode == 2 and "invalid choice: 'note'" in refused.stderr
    no_keys = llmgate("ollama-key", "list", "alice", extra_env={"LLMGATE_PLUGINS_DISABLED": "ollama_keys"})
    assert no_keys.returncode == 2 and "invalid choice: 'ollama-key'" in no_keys.stderr
