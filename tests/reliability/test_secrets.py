"""After a realistic session (a user, API keys, an Ollama key when the plugin is there, requests that
succeed and fail, through the user's Ollama key), no plaintext secret is in the SQLite file, its
WAL, or anything logged. Dashboard headers, cookies and isolation are covered in tests/dashboard.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from proxy.accounts import get_user, set_selected_model
from tests.fake_ollama import FakeOllama, KeyBehaviour, Reply
from tests.support.accounts import make_key

PASSWORD = "correct horse battery"  # tests.support.accounts.make_key's password
OLLAMA_SECRET = "ollama-secret-4f1d2c3b9a8e7d6c5b4a39281706f5e4"
CHAT = "/v1/chat/completions"


def database_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("llmgate.sqlite3*")))


def test_no_plaintext_secret_in_the_database_or_logs(start_gateway, fake: FakeOllama, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    gateway = start_gateway(env={"LLMGATE_OLLAMA_CLOUD_URL": fake.url})
    key = make_key(gateway, username="alice")
    other_key = make_key(gateway, username="alice", mode="emulator") if "emulator" in gateway.state.runner.modes else key
    secrets = {"api key": key, "second api key": other_key, "password": PASSWORD}

    if "ollama_keys" in gateway.state.services:
        from plugins.ollama_keys.keys import add_key

        fake.keys[OLLAMA_SECRET] = KeyBehaviour()

        async def add() -> None:
            user = await get_user("alice")
            await add_key(gateway.state.http, gateway.state.secret_box, fake.url, user.id, "mine", OLLAMA_SECRET,
                          preferred=True)
            await set_selected_model(user.id, "qwen3:8b")

        gateway.run(add())
        gateway.state.invalidate_auth()
        secrets["ollama key"] = OLLAMA_SECRET

    headers = {"authorization": f"Bearer {key}"}
    fake.queue(Reply(content="fine"), Reply(status=401), Reply(status=429), Reply(content="x", mid_stream_error="boom"))
    for stream in (False, False, False, True):
        httpx.post(gateway.url + CHAT, json={"messages": [{"role": "user", "content": "hi"}], "stream": stream},
                   headers=headers)
    httpx.post(gateway.url + CHAT, json={"messages": []}, headers={"authorization": f"Bearer {key}x"})  # a wrong key
    httpx.get(gateway.url + "/v1/models", headers=headers)
    if "ollama key" in secrets:
        assert any(r.bearer == OLLAMA_SECRET for r in fake.requests), "the session did not use the Ollama key"
    for service in gateway.state.services.values():  # flush every buffer to the file
        flush = getattr(service, "flush", None)
        if flush is not None:
            gateway.run(flush())
    stored = database_bytes(Path(gateway.settings.data_dir))
    logged = caplog.text.encode()
    for what, secret in secrets.items():
        assert secret.encode() not in stored, f"plaintext {what} in the database"
        assert secret.encode() not in logged, f"plaintext {what} in the logs"
