"""Setting a user's token quota with ``llmgate user set-quota`` (the dashboard's side: tests/dashboard/test_quotas.py)."""

from __future__ import annotations

import sqlite3

from pathlib import Path

import httpx

from tests.dashboard.conftest import make_api_key, make_user
from tests.fake_ollama import FakeOllama, Reply
from tests.test_multiworker import cli, gateway_env, new_key

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def chat(gateway, secret: str) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {secret}"})


def test_set_quota_on_the_command_line(tmp_path: Path, fake: FakeOllama) -> None:
    env = gateway_env(tmp_path, fake)
    new_key(env)
    out = cli(env, "user", "set-quota", "alice", "--daily-tokens", "5000")
    assert "alice: daily 5,000 tokens, monthly default (300,000,000) tokens" in out
    out = cli(env, "user", "set-quota", "alice", "--monthly-tokens", "0")
    assert "daily 5,000 tokens, monthly unlimited tokens" in out  # the daily quota is kept
    out = cli(env, "user", "set-quota", "alice", "--daily-tokens", "default", "--monthly-tokens", "default")
    assert "daily default (20,000,000) tokens, monthly default (300,000,000) tokens" in out
    # Each change is in the audit log, as the command line's.
    with sqlite3.connect(tmp_path / "data" / "llmgate.sqlite3") as db:
        rows = db.execute("SELECT actor, subject, address FROM dashboard_audit WHERE action = 'quota.set'").fetchall()
    assert rows == [("cli", "alice", "")] * 3
    # The command belongs to the quotas plugin, in the core's user group.
    assert "user set-quota" in next(line for line in cli(env, "plugins").splitlines() if line.startswith("quotas"))


def test_set_quota_refuses_bad_input(tmp_path: Path, fake: FakeOllama) -> None:
    import subprocess
    import sys

    from tests.test_multiworker import ROOT

    env = gateway_env(tmp_path, fake)
    new_key(env)
    for args in (["--daily-tokens", "-5"], ["--daily-tokens", "lots"], []):
        done = subprocess.run([sys.executable, "-m", "proxy.cli", "user", "set-quota", "alice", *args],
                              env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode != 0 and done.stderr.strip(), (args, done.stdout)
    done = subprocess.run([sys.executable, "-m", "proxy.cli", "user", "set-quota", "nobody", "--daily-tokens", "1"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1 and "nobody" in done.stderr


def test_cli_quota_reaches_a_running_gateway(start_gateway, fake: FakeOllama, tmp_path: Path) -> None:
    gateway = start_gateway()
    _, secret = make_api_key(gateway, make_user(gateway, "alice").username)
    fake.queue(Reply(content="x", prompt_eval_count=30, eval_count=30), times=2)
    assert chat(gateway, secret).status_code == 200
    # What the command writes; the running gateway reads it on its next refresh.
    env = gateway_env(tmp_path, fake, LLMGATE_DATABASE_URL=gateway.settings.database_url)
    cli(env, "user", "set-quota", "alice", "--daily-tokens", "50")
    gateway.run(gateway.app.ctx.state.services["quotas"].refresh())
    answer = chat(gateway, secret)
    assert answer.status_code == 429 and answer.json()["error"]["code"] == "insufficient_quota"
