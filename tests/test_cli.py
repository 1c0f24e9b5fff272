"""The llmgate command as operators' scripts use it: real processes, a real database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from proxy.storage.database import MIGRATIONS_ROOT

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def llmgate(tmp_path: Path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LLMGATE_DATA_DIR": str(tmp_path / "data")}
    env.pop("LLMGATE_DATABASE_URL", None)
    env.pop("LLMGATE_CONFIG", None)

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "proxy.cli", *args], env=env, cwd=tmp_path, input=stdin,
            capture_output=True, text=True, timeout=60,
        )

    return run


def test_user_and_key_lifecycle(llmgate, tmp_path: Path) -> None:
    steps = len(list((MIGRATIONS_ROOT / "sqlite" / "models").glob("*.py")))  # the embedded default is SQLite
    migrated = llmgate("migrate").stdout
    # The core's history, then the built-in plugins' own (each named after its plugin).
    applied = migrated.split(": ", 1)[1].strip().split(", ")
    assert [name for name in applied if "/" not in name] == sorted(p.name for p in (MIGRATIONS_ROOT / "sqlite" / "models").glob("*.py"))
    assert len(applied) > steps and {"emulator", "dashboard"} <= {name.split("/")[0] for name in applied}
    created = llmgate("user", "create", "alice", "--admin", "--password-stdin", stdin="correct horse battery\n")
    assert created.returncode == 0, created.stderr
    assert llmgate("user", "set-model", "alice", "qwen3:8b").returncode == 0

    made = llmgate("api-key", "create", "alice", "--mode", "bypass", "--name", "laptop")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("sk-") and len(secret) > 30  # alone on the last line

    listing = llmgate("api-key", "list", "alice").stdout
    assert "laptop" in listing and "bypass" in listing and "active" in listing
    assert secret not in listing and secret[:12] in listing  # only the display prefix is shown

    revoked = llmgate("api-key", "revoke", secret[:12])
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert "revoked" in llmgate("api-key", "list").stdout

    # Nothing secret on disk: the database holds a hash of the key and of the password.
    database = (tmp_path / "data" / "llmgate.sqlite3").read_bytes()
    assert secret.encode() not in database and b"correct horse battery" not in database


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("api-key", "create", "nobody", "--mode", "bypass"), None, "No user named 'nobody'"),
        (("api-key", "create", "alice", "--mode", "turbo"), None, "unknown mode 'turbo'"),
        (("api-key", "revoke", "sk-doesnotexist"), None, "no API key starts with"),
        (("user", "create", "bob", "--password-stdin"), "short\n", "at least 8 characters"),
        (("user", "create", "alice", "--password-stdin"), "correct horse battery\n", "taken"),
        (("user", "create", "carol"), None, "pass --password-stdin"),
    ],
)
def test_errors_are_one_line_and_non_zero(llmgate, args: tuple[str, ...], stdin: str | None, message: str) -> None:
    llmgate("user", "create", "alice", "--password-stdin", stdin="correct horse battery\n")
    result = llmgate(*args, stdin=stdin)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmgate: error:") and message in lines[0]
    assert "Traceback" not in result.stderr


def test_bad_setting_is_one_line(llmgate, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "proxy.cli", "plugins"], capture_output=True, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "LLMGATE_DATA_DIR": str(tmp_path / "d"), "LLMGATE_PLUGINS_DISABLED": "key_mode"},
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "llmgate: error: plugin key_mode is essential and cannot be disabled (remove it from [plugins] disabled)"


def test_serve_migrates_then_answers_healthz(llmgate, tmp_path: Path) -> None:
    import socket
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LLMGATE_DATA_DIR": str(tmp_path / "data"), "LLMGATE_PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-m", "proxy.cli", "serve"], env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the gateway did not become ready")
        assert (tmp_path / "data" / "llmgate.sqlite3").exists()
    finally:
        process.terminate()
        process.wait(20)
    assert process.returncode == 0



def test_user_approve(llmgate, tmp_path: Path) -> None:
    assert llmgate("user", "create", "pending", "--password-stdin", stdin="correct horse battery\n").returncode == 0
    with sqlite3.connect(tmp_path / "data" / "llmgate.sqlite3") as db:
        db.execute("UPDATE users SET approved = 0 WHERE username = 'pending'")  # as registered for approval
    done = llmgate("user", "approve", "pending")
    assert done.returncode == 0 and "approved user pending" in done.stdout
    with sqlite3.connect(tmp_path / "data" / "llmgate.sqlite3") as db:
        assert db.execute("SELECT approved FROM users WHERE username = 'pending'").fetchone() == (1,)
    assert llmgate("user", "approve", "nobody").returncode != 0
