"""Several worker processes, and several instances on one PostgreSQL, as ``llmgate serve`` runs them.

Each gateway here is a real subprocess; the fake Ollama runs in the test process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fake_ollama import FakeOllama, Reply
from tests.support.databases import PG_SKIP_REASON, create_pg_database, drop_pg_database, pg_admin_url
from tests.support.gateway import free_port

ROOT = Path(__file__).resolve().parent.parent
CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}


def gateway_env(tmp_path: Path, fake: FakeOllama, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGATE_")}
    env.update(
        PYTHONPATH=str(ROOT),
        LLMGATE_DATA_DIR=str(tmp_path / "data"),
        LLMGATE_UPSTREAM_URL=fake.url,
        LLMGATE_SECRET_KEY="test-secret-key-0123456789-abcdefghij",
        **extra,
    )
    return env


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "proxy.cli", *args], env=env, cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def new_key(env: dict[str, str], username: str = "alice") -> str:
    cli(env, "user", "create", username, "--password-stdin", stdin="correct horse battery\n")
    return cli(env, "api-key", "create", username, "--mode", "bypass").strip().splitlines()[-1]


class Served:
    """``llmgate serve`` in a subprocess; stopped with SIGTERM like a service manager does."""

    def __init__(self, env: dict[str, str], workers: int, log: Path, port: int | None = None) -> None:
        self.env = env
        self.workers = workers
        self.port = port or free_port()
        self.log = log
        env = {**env, "LLMGATE_PORT": str(self.port), "LLMGATE_WORKERS": str(workers)}
        self.process = subprocess.Popen([sys.executable, "-m", "proxy.cli", "serve"], env=env, cwd=ROOT,
                                        stdout=log.open("wb"), stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"llmgate serve exited:\n{log.read_text()[-3000:]}"
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"llmgate serve did not become ready:\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def chat(self, key: str) -> httpx.Response:
        # A new connection each time, so the kernel hands requests to whichever worker accepts.
        with httpx.Client(timeout=10) as client:
            return client.post(self.url + "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {key}"})

    def worker_pid(self) -> str:
        with httpx.Client(timeout=10) as client:
            text = client.get(self.url + "/metrics").text
        match = re.search(r'llmgate_worker_info\{pid="(\d+)"\}', text)
        assert match, text
        return match.group(1)


@pytest.fixture
def served() -> Iterator[list[Served]]:
    running: list[Served] = []
    yield running
    for gateway in running:
        gateway.stop()


def test_two_workers_serve_requests(tmp_path: Path, fake: FakeOllama, served: list[Served]) -> None:
    env = gateway_env(tmp_path, fake)
    key = new_key(env)
    gateway = Served(env, workers=2, log=tmp_path / "serve.log")
    served.append(gateway)
    pids: set[str] = set()
    chats = 0
    deadline = time.monotonic() + 30
    while len(pids) < 2:
        assert time.monotonic() < deadline, f"only worker(s) {pids} answered"
        response = gateway.chat(key)
        chats += 1
        assert response.status_code == 200, response.text
        pids.add(gateway.worker_pid())
    # Both workers share the database: a key made after they started works in each of them.
    late_key = cli(env, "api-key", "create", "alice", "--mode", "bypass").strip().splitlines()[-1]
    answered: set[str] = set()
    deadline = time.monotonic() + 30
    while answered != pids:
        assert time.monotonic() < deadline, f"the new key was not served by every worker: {answered}"
        assert gateway.chat(late_key).status_code == 200
        chats += 1
        answered.add(gateway.worker_pid())
    # A local Ollama without upstream.num_ctx: the operator is told once, not once per worker.
    log = gateway.log.read_text().splitlines()
    warnings = [line for line in log if "upstream.num_ctx is not set" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0] and "LLMGATE_UPSTREAM_NUM_CTX" in warnings[0]
    # Every request the workers served has its line in the log (workers log like the main process).
    deadline = time.monotonic() + 5
    while sum("llmgate.requests: " in line and "path=/v1/chat/completions" in line
              for line in gateway.log.read_text().splitlines()) != chats:  # fmt: skip
        assert time.monotonic() < deadline, "the workers' request lines are missing from the log"
        time.sleep(0.1)


def test_no_context_warning_once_num_ctx_is_set(tmp_path: Path, fake: FakeOllama, served: list[Served]) -> None:
    env = gateway_env(tmp_path, fake, LLMGATE_UPSTREAM_NUM_CTX="65536")
    gateway = Served(env, workers=1, log=tmp_path / "serve.log")
    served.append(gateway)
    log = gateway.log.read_text()
    assert "applied" in log  # the start-up lines are there
    assert "num_ctx" not in log


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not pg_admin_url():
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tests: " + PG_SKIP_REASON)
        pytest.skip(PG_SKIP_REASON)
    url = create_pg_database()
    yield url
    drop_pg_database(url)


def _listen_backlog(port: int) -> int | None:
    """The accept queue's size as the kernel reports it (ss's Send-Q for a listening socket)."""
    try:
        out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, timeout=10).stdout
    except FileNotFoundError:
        return None
    sizes = {int(line.split()[2]) for line in out.splitlines() if line.strip()}
    return max(sizes) if sizes else None


def test_a_burst_of_connections_is_queued_not_reset(
    tmp_path: Path, fake: FakeOllama, served: list[Served]
) -> None:
    # Sanic's own backlog of 100 reset clients when a thousand streams connected at once.
    # One address opens them all here: the per-address cap is a different guard, off for this test.
    env = gateway_env(tmp_path, fake, LLMGATE_MAX_CONNECTIONS_PER_IP="0")
    gateway = Served(env, workers=1, log=tmp_path / "serve.log")
    served.append(gateway)
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    backlog = _listen_backlog(gateway.port)
    if backlog is not None:
        assert backlog == min(4096, somaxconn)
    sockets = []
    try:
        for _ in range(400):  # all connected before the worker accepts any of them
            sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=30)
            sockets.append(sock)
        for sock in sockets:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answered = 0
        for sock in sockets:
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
            answered += data.startswith(b"HTTP/1.1 200")
        assert answered == len(sockets)
    finally:
        for sock in sockets:
            sock.close()


def test_revocation_reaches_another_instance_within_the_cache_bound(
    tmp_path: Path, fake: FakeOllama, served: list[Served], pg_url: str
) -> None:
    cache_seconds = 1.0
    env = gateway_env(tmp_path, fake, LLMGATE_DATABASE_URL=pg_url, LLMGATE_AUTH_CACHE_SECONDS=str(cache_seconds))
    key = new_key(env)
    first = Served(env, workers=1, log=tmp_path / "first.log")
    served.append(first)
    second = Served(env, workers=1, log=tmp_path / "second.log")
    served.append(second)
    # Both instances know the key (and now hold it in their auth caches).
    assert first.chat(key).status_code == 200
    assert second.chat(key).status_code == 200
    prefix = key[:12]
    cli(env, "api-key", "revoke", prefix)
    revoked_at = time.monotonic()
    refused: dict[str, float] = {}
    while len(refused) < 2:
        elapsed = time.monotonic() - revoked_at
        assert elapsed < cache_seconds + 2, f"still accepted {elapsed:.1f} s after revocation (refused: {refused})"
        for name, gateway in (("first", first), ("second", second)):
            if name not in refused and gateway.chat(key).status_code == 401:
                refused[name] = elapsed
        time.sleep(0.05)
    assert max(refused.values()) <= cache_seconds + 1


def test_sign_in_throttle_holds_across_workers(tmp_path: Path, fake: FakeOllama) -> None:
    """30 parallel wrong passwords spread over two workers: the count lives in the database."""
    import asyncio

    env = gateway_env(tmp_path, fake)
    cli(env, "user", "create", "target", "--password-stdin", stdin="correct horse battery\n")
    served = Served(env, workers=2, log=tmp_path / "serve.log")
    try:
        page = httpx.get(served.url + "/dashboard/signin")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)

        async def guesses() -> list[int]:
            limits = httpx.Limits(max_keepalive_connections=0)  # a new connection each: both workers take some
            async with httpx.AsyncClient(base_url=served.url, cookies=page.cookies, limits=limits, timeout=60) as client:
                answers = await asyncio.gather(*(
                    client.post("/dashboard/signin", data={"username": "target", "password": f"wrong {i}", "csrf_token": token})
                    for i in range(30)
                ))
            return [answer.status_code for answer in answers]

        statuses = asyncio.run(guesses())
    finally:
        served.stop()
    assert statuses.count(401) <= 5 and statuses.count(429) == 30 - statuses.count(401), statuses


def _scrape(gateway: Served) -> tuple[str, dict[str, float]]:
    """(the pid of the worker that answered, its sample lines as {'name{labels}': value})."""
    with httpx.Client(timeout=10) as client:  # a new connection: any worker may answer
        text = client.get(gateway.url + "/metrics").text
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    pid = re.search(r'llmgate_worker_info\{pid="(\d+)"\}', text)
    assert pid, text
    return pid.group(1), samples


def _served_per_worker(run_dir: Path) -> dict[str, float]:
    """Successful bypass requests counted in each worker's own file, read directly."""
    from prometheus_client.mmap_dict import MmapedDict

    served: dict[str, float] = {}
    for path in run_dir.glob("counter_*.db"):
        if not path.stat().st_size:
            continue  # a worker creating it this instant
        pid = path.stem.removeprefix("counter_")
        for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path)):
            _metric, sample, labels, _help = json.loads(key)
            if sample == "llmgate_requests_total" and labels.get("status") == "200":
                served[pid] = served.get(pid, 0) + value
    return served


OK = 'llmgate_requests_total{mode="bypass",status="200",upstream="shared"}'


def test_every_scrape_reports_all_workers(tmp_path: Path, fake: FakeOllama, served: list[Served]) -> None:
    env = gateway_env(tmp_path, fake)
    key = new_key(env)
    gateway = Served(env, workers=2, log=tmp_path / "serve.log")
    served.append(gateway)
    # The workers' values live in a fresh owner-only directory under the data dir.
    metrics_root = tmp_path / "data" / "metrics"
    [run_dir] = metrics_root.iterdir()
    assert stat.S_IMODE(metrics_root.stat().st_mode) == 0o700
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    deadline = time.monotonic() + 30
    while _scrape(gateway)[1]["llmgate_workers"] < 2:  # ready means one worker is; the other follows
        assert time.monotonic() < deadline, "the second worker never started"
        time.sleep(0.1)
    sent = 0
    answered_scrapes: set[str] = set()
    previous: dict[str, float] = {}
    deadline = time.monotonic() + 30
    while len(answered_scrapes) < 2 or len(_served_per_worker(run_dir)) < 2:
        assert time.monotonic() < deadline, f"scrapes answered by {answered_scrapes}, requests served by " \
                                            f"{_served_per_worker(run_dir)}"
        assert gateway.chat(key).status_code == 200
        sent += 1
        pid, samples = _scrape(gateway)
        answered_scrapes.add(pid)
        # Whichever worker answers, the count is every request the instance served...
        assert samples[OK] == sent, (pid, samples[OK], sent)
        assert samples["llmgate_workers"] == 2 and samples["llmgate_open_streams"] == 0
        # ...and no counter of the instance goes down from one scrape to the next.
        for name, value in previous.items():
            if "_total" in name or name.endswith(("_count", "_sum")) or "_bucket{" in name:
                assert samples.get(name, 0) >= value, (name, value, samples.get(name))
        previous = samples
    per_worker = _served_per_worker(run_dir)
    assert len(per_worker) == 2 and sum(per_worker.values()) == sent  # each served some; the sum is all
    assert previous['llmgate_request_duration_seconds_count{mode="bypass"}'] == sent
    assert previous['llmgate_tokens_total{direction="output",mode="bypass"}'] > 0
    gateway.stop()
    assert not run_dir.exists()  # removed when the instance stops; the next run starts from zero


def _open_streams_per_worker(run_dir: Path) -> dict[int, float]:
    from prometheus_client.mmap_dict import MmapedDict

    held: dict[int, float] = {}
    for path in run_dir.glob("gauge_livesum_*.db"):
        if not path.stat().st_size:
            continue
        for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path)):
            if json.loads(key)[1] == "llmgate_open_streams":
                held[int(path.stem.rpartition("_")[2])] = value
    return held


def test_a_killed_worker_keeps_its_counts_and_drops_its_gauges(
    tmp_path: Path, fake: FakeOllama, served: list[Served]
) -> None:
    env = gateway_env(tmp_path, fake)
    key = new_key(env)
    gateway = Served(env, workers=2, log=tmp_path / "serve.log")
    served.append(gateway)
    [run_dir] = (tmp_path / "data" / "metrics").iterdir()
    sent = 0
    deadline = time.monotonic() + 30
    while len(_served_per_worker(run_dir)) < 2:
        assert time.monotonic() < deadline, "one worker served every request"
        assert gateway.chat(key).status_code == 200
        sent += 1
    fake.queue(Reply(content="word " * 200, chunk_delay=0.1))  # a stream lasting ~20 s
    with httpx.Client(timeout=10) as client, client.stream(
        "POST", gateway.url + "/v1/chat/completions", json={**CHAT, "stream": True},
        headers={"authorization": f"Bearer {key}"},
    ) as stream:  # fmt: skip
        lines = stream.iter_lines()
        deadline = time.monotonic() + 10
        while not (holders := [pid for pid, count in _open_streams_per_worker(run_dir).items() if count == 1]):
            assert time.monotonic() < deadline, "the open stream never showed in a worker's file"
            next(lines)
        [holder] = holders
        assert _scrape(gateway)[1]["llmgate_open_streams"] == 1
        os.kill(holder, signal.SIGKILL)  # no shutdown hook runs: it cannot mark itself gone
    # Only the other worker answers now; the killed one's requests still count, its stream does not.
    _pid, samples = _scrape(gateway)
    assert samples[OK] == sent
    assert samples["llmgate_open_streams"] == 0 and samples["llmgate_workers"] == 1
