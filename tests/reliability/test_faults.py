"""Upstream and gateway faults: every client stream ends with a terminal event or a proper error
within a bounded time, a client that goes away cancels the upstream, SIGTERM drains open streams
and flushes buffered usage records.

Bounds proven here (see docs/reliability.md): a stalled upstream is given up after
upstream.read_timeout (0.5 s in these tests) and the client has its terminal event at most
1.5 s after that; a client disconnect reaches the upstream within 1 s.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest

from config.settings import load_settings
from proxy.accounts import create_api_key, create_user
from proxy.storage.database import close_database, migrate, open_database
from tests.fake_ollama import FakeOllama, Reply
from tests.reliability.helpers import assert_openai_error, stream_ending
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer, free_port

ROOT = Path(__file__).resolve().parents[2]
CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
MESSAGES = [{"role": "user", "content": "hi"}]
READ_TIMEOUT = "0.5"
BOUND = float(READ_TIMEOUT) + 1.5  # seconds from the stall to the client's terminal event

FAULTS = {
    "mid-stream-error": Reply(content="partial answer", mid_stream_error="model runner crashed"),
    "truncated": Reply(content="partial answer", truncate=True),
    "killed": Reply(content="partial answer", drop_connection=True),
    "stall-after-first": Reply(content="partial answer", stall_after_first=True),
    "stall-before-first": Reply(content="x", first_token_delay=30),
    "garbage": Reply(garbage=True),
    "500": Reply(status=500),
    "503": Reply(status=503),
}
EMULATOR_TERMINAL = {"response.completed", "response.failed", "response.incomplete", "error"}


@pytest.fixture
def faulty(start_gateway, fake: FakeOllama) -> tuple[GatewayServer, str]:
    gateway = start_gateway(env={"LLMGATE_UPSTREAM_READ_TIMEOUT": READ_TIMEOUT})
    return gateway, make_key(gateway)


def chat(gateway: GatewayServer, key: str, stream: bool) -> tuple[httpx.Response, bytes, float]:
    started = time.monotonic()
    with httpx.stream("POST", gateway.url + CHAT, json={"model": "qwen3:8b", "messages": MESSAGES, "stream": stream},
                      headers={"authorization": f"Bearer {key}"}, timeout=10) as response:
        raw = response.read()
    return response, raw, time.monotonic() - started


def assert_ends_properly(response: httpx.Response, raw: bytes, stream: bool) -> str:
    """A stream ends with [DONE] or an error event; anything else is an OpenAI error or valid JSON."""
    if response.status_code != 200:
        assert_openai_error(response)
        return f"http {response.status_code}"
    if stream:
        assert response.headers["content-type"].startswith("text/event-stream")
        ending = stream_ending(raw)
        assert ending in ("done", "error"), raw[-300:]
        return ending
    body = orjson.loads(raw)  # never garbage passed through with a 200
    assert "choices" in body or "error" in body
    return "json"


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])
def test_every_bypass_answer_ends_within_the_bound(faulty, fake: FakeOllama, stream: bool) -> None:
    """One gateway, every fault in turn (a gateway per fault would cost 2 s of start-up each)."""
    gateway, key = faulty
    endings = {}
    for fault, reply in FAULTS.items():
        if fault == "garbage" and not stream:
            continue  # see test_garbage_with_200_is_not_passed_through
        fake.queue(reply, reply)  # the default failover retries a 5xx or a dead connection once
        response, raw, took = chat(gateway, key, stream)
        endings[fault] = assert_ends_properly(response, raw, stream)
        assert took < BOUND, f"{fault}: {took:.2f} s"
        assert fake.wait_until(lambda: fake.open_streams == 0, 1.0), fault  # nothing left hanging upstream
        fake._queue.clear()
    assert len(endings) >= len(FAULTS) - 1


def test_garbage_with_200_is_not_passed_through(faulty, fake: FakeOllama) -> None:
    gateway, key = faulty
    fake.queue(Reply(garbage=True))
    response, raw, _ = chat(gateway, key, stream=False)
    assert_ends_properly(response, raw, stream=False)


def test_refused_connections_are_a_502_not_a_hang(start_gateway) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    gateway = start_gateway(env={"LLMGATE_UPSTREAM_URL": dead})
    key = make_key(gateway)
    for stream in (True, False):
        response, raw, took = chat(gateway, key, stream)
        assert_openai_error(response, 502, "upstream_error", "upstream_unreachable")
        assert took < 2.0


def test_emulator_streams_end_with_a_terminal_event(faulty, fake: FakeOllama) -> None:
    gateway, _ = faulty
    if "emulator" not in gateway.state.runner.modes:
        pytest.skip("the emulator mode is not enabled in this build")
    key = make_key(gateway, mode="emulator")
    for fault, reply in FAULTS.items():
        fake.queue(reply, reply)
        started = time.monotonic()
        with httpx.stream("POST", gateway.url + RESPONSES, json={"input": "hi", "stream": True},
                          headers={"authorization": f"Bearer {key}"}, timeout=10) as response:
            raw = response.read()
        took = time.monotonic() - started
        if response.status_code != 200:
            assert_openai_error(response)
        else:
            types = [orjson.loads(line[6:]).get("type") for line in raw.split(b"\n") if line.startswith(b"data: {")]
            assert types and types[-1] in EMULATOR_TERMINAL, f"{fault}: {types[-3:]}"
        assert took < BOUND + 1.0, f"{fault}: {took:.2f} s"  # + the emulator's commit_after_seconds


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])
def test_client_disconnect_cancels_the_upstream_within_a_second(gateway: GatewayServer, fake: FakeOllama, stream: bool) -> None:
    key = make_key(gateway)
    # Streaming: chunks keep coming for 10 s. Complete: the upstream thinks for 10 s first.
    fake.queue(Reply(content=" ".join(["word"] * 200), chunk_delay=0.05, first_token_delay=0 if stream else 10))
    sock = socket.create_connection(("127.0.0.1", gateway.port))
    body = orjson.dumps({"model": "qwen3:8b", "messages": MESSAGES, "stream": stream})
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Authorization: Bearer " + key.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert fake.wait_until(lambda: len(fake.chat_requests()) == 1, 2)
    if stream:
        assert b"data:" in sock.recv(65536)
    sock.close()
    closed_at = time.monotonic()
    assert fake.wait_until(lambda: fake.client_disconnects == 1, 1.0)  # the fake saw its connection close
    assert fake.open_streams == 0
    assert time.monotonic() - closed_at < 1.0


# --- SIGTERM with open streams ------------------------------------------------------------

GRACE = 5.0


def _seed(env: dict[str, str]) -> str:
    """Migrate the server's SQLite file and create a user and key in it (in-process: CLI runs cost 3 s each)."""

    async def work() -> str:
        settings = load_settings(env=env)
        await migrate(settings.database_url)
        await open_database(settings)
        try:
            user = await create_user("alice", "correct horse battery")
            return (await create_api_key(user, "bypass", "sigterm"))[1]
        finally:
            await close_database()

    return asyncio.run(work())


def test_sigterm_drains_open_streams_and_flushes_usage(tmp_path: Path, fake: FakeOllama) -> None:
    port = free_port()
    env = {
        **os.environ, "PYTHONPATH": str(ROOT), "LLMGATE_DATA_DIR": str(tmp_path / "data"), "LLMGATE_PORT": str(port),
        "LLMGATE_UPSTREAM_URL": fake.url, "LLMGATE_SECRET_KEY": "sigterm-test-secret-0123456789-abcdefghij",
        "LLMGATE_GRACEFUL_SHUTDOWN_SECONDS": str(GRACE), "LLMGATE_WORKERS": "1",
    }
    key = _seed(env)
    log = open(tmp_path / "serve.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "proxy.cli", "serve"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("the gateway did not start: " + (tmp_path / "serve.log").read_text()[-2000:])
        headers = {"authorization": f"Bearer {key}"}
        for _ in range(3):  # usage records that sit in the 1 s buffer
            assert httpx.post(url + CHAT, json={"messages": MESSAGES}, headers=headers).status_code == 200
        fake.queue(Reply(content=" ".join(["tok"] * 20), chunk_delay=0.1))  # a 2 s stream
        result: dict[str, object] = {}

        def slow_stream() -> None:
            with httpx.stream("POST", url + CHAT, json={"messages": MESSAGES, "stream": True}, headers=headers,
                              timeout=15) as response:
                result["raw"] = response.read()
                result["status"] = response.status_code

        reader = threading.Thread(target=slow_stream)
        reader.start()
        assert fake.wait_until(lambda: fake.open_streams == 1, 3)
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        time.sleep(0.5)
        with pytest.raises(httpx.TransportError):  # the listener is closed
            httpx.post(url + CHAT, json={"messages": MESSAGES}, headers=headers, timeout=2)
        reader.join(GRACE + 5)
        assert result.get("status") == 200 and stream_ending(result["raw"]) == "done"  # finished, not cut
        process.wait(GRACE + 10)
        took = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
    assert process.returncode == 0, (tmp_path / "serve.log").read_text()[-2000:]
    assert took < GRACE + 3
    with sqlite3.connect(tmp_path / "data" / "llmgate.sqlite3") as db:
        rows = db.execute("SELECT stream, status FROM usage_records ORDER BY id").fetchall()
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert len(rows) == 4 and rows[-1] == (1, 200), rows  # the drained stream's record was flushed too
