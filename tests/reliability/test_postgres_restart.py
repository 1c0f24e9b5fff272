"""PostgreSQL restarted under load: requests fail cleanly while it is down, the gateway recovers alone.

The machine's shared PostgreSQL is never touched: the test runs a private server (initdb + pg_ctl
from /usr/lib/postgresql/*/bin) in a temporary folder, on 127.0.0.1 and a free port, with trust
auth, as the ``postgres`` OS user when the test runs as root. It is skipped when the binaries are
missing, except under CI, where it fails.

While a steady stream of requests with a key already in the auth cache keeps going:
stop PostgreSQL (fast shutdown) -> a key the gateway has not seen yet (it needs the database) gets
an OpenAI-shaped 503 at once, never a hang, HTML or a traceback, and the cached key keeps working
-> start PostgreSQL again -> the new key works within a few seconds, with no restart of the
gateway, and every usage record, including those of the requests served while the database was
down, reaches the database.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proxy.storage.models import UsageRecord
from tests.fake_ollama import FakeOllama
from tests.reliability.helpers import assert_error_shape, assert_openai_error
from tests.support.accounts import make_key
from tests.support.gateway import free_port

CHAT = "/v1/chat/completions"
HELLO = {"messages": [{"role": "user", "content": "hi"}]}


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        on_path = shutil.which("pg_ctl")
        found = [on_path] if on_path else []
    if not found or not (Path(found[-1]).parent / "initdb").exists():
        return None
    return Path(found[-1]).parent


class PrivatePostgres:
    """A throwaway PostgreSQL server owned by this test."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="llmgate-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, user="postgres", group="postgres")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 30) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed: {result.stdout}{result.stderr}\n{log}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "20", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "20", "stop")

    def cleanup(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bindir = _pg_bin()
    if bindir is None:
        reason = "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin or on PATH"
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL restart test: " + reason)
        pytest.skip(reason)
    server = PrivatePostgres(bindir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.cleanup()


class SteadyLoad:
    """Requests with one (cached) key, back to back in a thread, until stopped."""

    def __init__(self, url: str, key: str) -> None:
        self.client = httpx.Client(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=10)
        self.statuses: list[int] = []
        self.problems: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                response = self.client.post(CHAT, json=HELLO)
            except httpx.HTTPError as exc:
                self.problems.append(repr(exc))
                continue
            self.statuses.append(response.status_code)
            if response.status_code != 200:
                self.problems.append(f"{response.status_code} {response.text[:200]}")
            time.sleep(0.02)

    def __enter__(self) -> SteadyLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)
        self.client.close()

    def served(self) -> int:
        return self.statuses.count(200)


def post(url: str, key: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.post(url + CHAT, json=HELLO, headers={"authorization": f"Bearer {key}"}, timeout=10)
    return response, time.monotonic() - started


def test_gateway_rides_out_a_postgres_restart(private_postgres: PrivatePostgres, start_gateway, fake: FakeOllama) -> None:
    gateway = start_gateway(database_url=private_postgres.url)
    cached = make_key(gateway, username="alice")
    unseen = make_key(gateway, username="bob")  # created now, first used while the database is down
    later = make_key(gateway, username="carol")  # first used once the database is back
    assert post(gateway.url, cached)[0].status_code == 200  # now in the auth cache

    with SteadyLoad(gateway.url, cached) as load:
        time.sleep(0.5)
        served_before = load.served()
        private_postgres.stop()
        down_at = time.monotonic()

        # Needs the database: a clean 503, quickly.
        for _ in range(3):
            response, took = post(gateway.url, unseen)
            assert took < 5, f"a request needing the database took {took:.1f}s while it was down"
            assert_openai_error(response, status=503, type_="server_error", code="service_unavailable")
            assert_error_shape(response.content)
        models = httpx.get(gateway.url + "/v1/models", headers={"authorization": f"Bearer {unseen}"}, timeout=10)
        assert_openai_error(models, status=503, code="service_unavailable")
        assert httpx.get(gateway.url + "/healthz", timeout=5).status_code == 200

        # The cached key keeps being served while the database is away.
        time.sleep(1.5)
        served_while_down = load.served() - served_before
        assert served_while_down > 0 and not load.problems, load.problems[:5]

        private_postgres.start()
        back_at = time.monotonic()
        # No restart of the gateway: the pool reconnects by itself.
        deadline = back_at + 10
        while True:
            response, _ = post(gateway.url, later)
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            assert_openai_error(response, status=503)
            time.sleep(0.2)
        assert response.status_code == 200, response.text
        recovered_after = time.monotonic() - back_at
        assert post(gateway.url, unseen)[0].status_code == 200  # refused earlier, not cached as unknown
        time.sleep(0.3)

    assert not load.problems, load.problems[:5]
    served = load.served()
    assert served > served_while_down

    # Every request the gateway served reaches the usage table, those served during the outage too.
    expected = served + 1 + 1 + 1  # the load, the cached key's first request, `later`, `unseen` after
    deadline = time.monotonic() + 10
    while True:
        recorded = gateway.run(UsageRecord.filter(status=200).count())
        if recorded >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert recorded == expected, f"{recorded} usage records for {expected} served requests"
    print(f"down {back_at - down_at:.1f}s, recovered {recovered_after:.2f}s after restart, {served} served under load")
