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
    # An upstream that quotes the key it was sent in its errors (some proxies' debug pages do).
    echo = OLLAMA_SECRET if "ollama key" in secrets else "unused"
    fake.queue(Reply(content="fine"), Reply(status=401, error=f"invalid credentials: Bearer {echo}"),
               Reply(status=429, error=f"key {echo} reached your weekly usage limit"),
               Reply(content="x", mid_stream_error=f"boom ({echo})"))  # fmt: skip
    answers = b""
    for stream in (False, False, False, True):
        answers += httpx.post(gateway.url + CHAT, json={"messages": [{"role": "user", "content": "hi"}], "stream": stream},
                              headers=headers).content
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
        assert secret.encode() not in answers, f"plaintext {what} in an answer to the client"


SHARED_SECRET = "shared-upstream-key-9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a49"


def test_the_shared_upstreams_key_echoed_in_an_error_reaches_no_client_and_no_log(
    start_gateway, fake: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway = start_gateway(env={"LLMGATE_UPSTREAM_API_KEY": SHARED_SECRET})
    key = make_key(gateway)
    fake.queue(Reply(status=401, error=f"Authorization 'Bearer {SHARED_SECRET}' is not valid"),
               Reply(status=400, error=f"bad request from key {SHARED_SECRET}, or sk-{'x' * 20}"))  # fmt: skip
    for _ in range(2):
        response = httpx.post(gateway.url + CHAT, json={"messages": [{"role": "user", "content": "hi"}]},
                              headers={"authorization": f"Bearer {key}"})  # fmt: skip
        message = response.json()["error"]["message"]
        assert response.status_code in (400, 502) and "[redacted]" in message, message
        assert SHARED_SECRET not in message and "sk-xxxx" not in message
    assert [r.bearer for r in fake.chat_requests()] == [SHARED_SECRET, SHARED_SECRET]  # it was the key sent
    assert SHARED_SECRET not in caplog.text
