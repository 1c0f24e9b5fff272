"""nginx in front of two ``llmgate serve`` instances on one PostgreSQL and one Redis: the deployment
of ``deploy/`` with its nginx configuration, checked through the balancer as a client sees it.

One deployment serves the whole module (starting it is most of the cost); each test works with its
own user and keys. Two checks need state shared through Redis (``LLMGATE_REDIS_URL``): until the
settings know that variable they are expected to fail, and they count from the day they do.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

from config.settings import ENV_KEYS
from tests.deploy.nginx import NGINX_SKIP_REASON, Nginx, nginx_binary
from tests.fake_ollama import SESSION_LIMIT, FakeOllama, KeyBehaviour, Reply
from tests.support.databases import PG_SKIP_REASON, create_pg_database, drop_pg_database, pg_admin_url
from tests.test_multiworker import ROOT, Served, gateway_env

CLOUD_CHAT = {"model": "gpt-oss:120b-cloud", "messages": [{"role": "user", "content": "hi"}]}
CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}
PASSWORD = "correct horse battery"
# Per API key, across the deployment once Redis holds the counts.
LIMIT_PER_MINUTE = 10
REDIS_SUPPORTED = "LLMGATE_REDIS_URL" in ENV_KEYS
USERS = ("streamer", "bob", "carol", "dave", "erin", "frank")
# bob's Ollama keys, k0 (preferred) then k1.
OLLAMA_KEYS = ("ollama-key-first-1111", "ollama-key-second-2222")
# Migrates, then makes every test's user and key in one process (as ``llmgate user create`` and
# ``llmgate api-key create`` would, one process each, at a second of start-up apiece).
ACCOUNTS_SCRIPT = """
import asyncio, json, sys
import httpx
from plugins.ollama_keys import keys as key_ops
from proxy.accounts import create_api_key, create_user
from proxy.cli_support import cli_settings as _settings, with_database as _with_database
from proxy.security import SecretBox

users, password, ollama_keys = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
settings = _settings()

async def work():
    keys = {}
    for name in users:
        user = await create_user(name, password)
        keys[name] = (await create_api_key(user, "bypass", "test"))[1]
        if name == "bob":
            async with httpx.AsyncClient(trust_env=False) as http:
                for index, secret in enumerate(ollama_keys):
                    await key_ops.add_key(http, SecretBox(settings.secret_bytes), settings.ollama_cloud_url,
                                          user.id, f"k{index}", secret, preferred=index == 0)
    print(json.dumps(keys))

asyncio.run(_with_database(settings, work))
"""
NEEDS_REDIS = pytest.mark.xfail(
    not REDIS_SUPPORTED, strict=False,
    reason="limits and revocations are shared through Redis once the settings know LLMGATE_REDIS_URL",
)  # fmt: skip


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail("CI must run the deployment tests: " + reason)
    pytest.skip(reason)


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


def _empty_redis_database(index: int) -> None:
    """Counts left by an earlier run in the same minute would meet this run's keys (same ids in a
    fresh PostgreSQL database)."""
    with socket.create_connection(("127.0.0.1", 6379), timeout=5) as sock:
        sock.sendall(f"SELECT {index}\r\nFLUSHDB\r\n".encode())
        answers = b""
        while answers.count(b"\r\n") < 2:
            chunk = sock.recv(1024)
            assert chunk, answers
            answers += chunk
    assert answers == b"+OK\r\n+OK\r\n", answers


@dataclass
class Deployment:
    nginx: Nginx
    instances: list[Served]
    env: dict[str, str]
    database_url: str
    api_keys: dict[str, str]  # username -> a bypass API key

    def new_user(self, username: str) -> str:
        """The API key of this test's own user (made at start)."""
        return self.api_keys[username]

    def sql(self, query: str, *args: object) -> list[dict]:
        import asyncpg

        async def run() -> list[dict]:
            connection = await asyncpg.connect(self.database_url.replace("postgres://", "postgresql://", 1))
            try:
                return [dict(row) for row in await connection.fetch(query, *args)]
            finally:
                await connection.close()

        return asyncio.run(run())


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, fake_ollama_server: FakeOllama) -> Iterator[Deployment]:
    if not nginx_binary():
        _missing(NGINX_SKIP_REASON)
    if not pg_admin_url():
        _missing(PG_SKIP_REASON)
    if not _redis_up():
        _missing("the deployment tests need Redis on 127.0.0.1:6379")
    tmp = tmp_path_factory.mktemp("deployment")
    database_url = create_pg_database()
    config = tmp / "llmgate.toml"
    config.write_text(f"[plugins.rate_limits]\nrequests_per_minute_per_key = {LIMIT_PER_MINUTE}\n")
    redis_database = random.randrange(1, 16)  # apart from other users of the same server, mostly
    _empty_redis_database(redis_database)
    env = gateway_env(
        tmp, fake_ollama_server,
        LLMGATE_DATABASE_URL=database_url + "?maxsize=3",
        LLMGATE_REDIS_URL=f"redis://127.0.0.1:6379/{redis_database}",
        LLMGATE_OLLAMA_CLOUD_URL=fake_ollama_server.url,
        LLMGATE_PROXIES_COUNT="1",
        LLMGATE_CONFIG=str(config),
    )  # fmt: skip
    # Migrated once, before the instances start together.
    made = subprocess.run(
        [sys.executable, "-c", ACCOUNTS_SCRIPT, json.dumps(USERS), PASSWORD, json.dumps(OLLAMA_KEYS)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    api_keys = json.loads(made.stdout.strip().splitlines()[-1])
    instances: list[Served] = []
    nginx: Nginx | None = None
    try:
        with ThreadPoolExecutor(2) as pool:
            # Each instance has a data directory of its own, as on separate machines.
            starting = [pool.submit(Served, {**env, "LLMGATE_DATA_DIR": str(tmp / name)}, 1, tmp / f"{name}.log")
                        for name in ("first", "second")]  # fmt: skip
            instances.extend(future.result() for future in starting)
        nginx = Nginx(tmp / "nginx", [gateway.port for gateway in instances])
        yield Deployment(nginx, instances, env, database_url, api_keys)
    finally:
        if nginx is not None:
            nginx.stop()
        for gateway in instances:
            gateway.stop()
        drop_pg_database(database_url)


def post(url: str, key: str, body: dict) -> httpx.Response:
    with httpx.Client(timeout=30) as client:
        return client.post(url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})


def served_by_each(deployment: Deployment) -> list[float]:
    """API requests each instance has answered (its own /metrics, scraped directly)."""
    counts = []
    for gateway in deployment.instances:
        text = httpx.get(gateway.url + "/metrics", timeout=10).text
        counts.append(sum(float(line.rpartition(" ")[2]) for line in text.splitlines()
                          if line.startswith("llmgate_requests_total{")))  # fmt: skip
    return counts


def test_the_balancer_serves_health_and_hides_metrics(deployment: Deployment) -> None:
    assert httpx.get(deployment.nginx.url + "/healthz").json() == {"status": "ok"}
    hidden = httpx.get(deployment.nginx.url + "/metrics")
    assert hidden.status_code == 403 and "llmgate_" not in hidden.text


def test_a_stream_is_relayed_as_it_comes(deployment: Deployment, fake: FakeOllama) -> None:
    key = deployment.new_user("streamer")
    # The upstream sends its first token, then never finishes: only an unbuffered relay delivers it.
    fake.queue(Reply(content="first second third", stall_after_first=True))
    with httpx.Client(timeout=30) as client, client.stream(
        "POST", deployment.nginx.url + "/v1/chat/completions", json={**CHAT, "stream": True},
        headers={"authorization": f"Bearer {key}"},
    ) as response:  # fmt: skip
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        content = ""
        lines = response.iter_lines()  # held: a dropped iterator would close the connection now
        for line in lines:
            if line.startswith("data: {"):
                choice = json.loads(line.removeprefix("data: "))["choices"][0]
                content += choice["delta"].get("content") or ""
                if content:
                    break
        assert content == "first"
        assert fake.open_streams == 1  # the upstream has not finished
    # The client went away: nginx closes its connection, the instance closes the upstream's.
    assert fake.wait_until(lambda: fake.open_streams == 0, timeout=15)


def test_failover_and_exhausted_key_marks_are_shared(deployment: Deployment, fake: FakeOllama) -> None:
    key = deployment.new_user("bob")
    first, second = OLLAMA_KEYS
    fake.keys[first] = KeyBehaviour(reply=Reply(status=429, error=SESSION_LIMIT))
    # Through the balancer: whichever instance serves tries k0, finds it used up, fails over to k1.
    assert post(deployment.nginx.url, key, CLOUD_CHAT).status_code == 200
    assert [r.bearer for r in fake.chat_requests()] == [first, second]
    deadline = time.monotonic() + 10
    while not deployment.sql(
        "SELECT 1 FROM ollama_keys k JOIN users u ON u.id = k.user_id "
        "WHERE u.username = 'bob' AND k.name = 'k0' AND k.exhausted_until > now()"
    ):
        assert time.monotonic() < deadline, "the exhausted mark was never written"
        time.sleep(0.1)
    # Both instances now skip k0 without asking, the one that learnt it and the one that did not.
    before = served_by_each(deployment)
    for _ in range(4):
        assert post(deployment.nginx.url, key, CLOUD_CHAT).status_code == 200
    after = served_by_each(deployment)
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)  # both served some
    assert [r.bearer for r in fake.chat_requests()] == [first, second] + [second] * 4


def _dashboard(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base + "/dashboard", timeout=30)
    page = client.get("/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    signed_in = client.post("/signin", data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)})
    assert signed_in.status_code == 302, signed_in.text
    return client


def _usage_24h(client: httpx.Client) -> tuple[int, int, int]:
    page = client.get("/usage")
    assert page.status_code == 200
    figures = re.search(
        r"<dt>Requests</dt><dd>([\d,]+)</dd></div>\s*<div><dt>Tokens in</dt><dd>([\d,]+)</dd></div>\s*"
        r"<div><dt>Tokens out</dt><dd>([\d,]+)</dd>", page.text,
    )  # fmt: skip
    assert figures, page.text
    requests, tokens_in, tokens_out = (int(group.replace(",", "")) for group in figures.groups())
    return requests, tokens_in, tokens_out


def test_usage_from_both_instances_adds_up_on_the_dashboard(deployment: Deployment, fake: FakeOllama) -> None:
    key = deployment.new_user("carol")
    before = served_by_each(deployment)
    answers = [post(deployment.nginx.url, key, CHAT) for _ in range(6)]
    assert [answer.status_code for answer in answers] == [200] * 6
    after = served_by_each(deployment)
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)
    expected = (
        6,
        sum(answer.json()["usage"]["prompt_tokens"] for answer in answers),
        sum(answer.json()["usage"]["completion_tokens"] for answer in answers),
    )
    # The dashboard, through the balancer too (its pages come from either instance).
    dashboard = _dashboard(deployment.nginx.url, "carol")
    try:
        deadline = time.monotonic() + 15
        while (shown := _usage_24h(dashboard)) != expected:  # usage is written in batches, each second
            assert time.monotonic() < deadline, f"the usage page shows {shown}, expected {expected}"
            time.sleep(0.2)
    finally:
        dashboard.close()


@NEEDS_REDIS
def test_a_per_key_limit_holds_across_both_instances(deployment: Deployment, fake: FakeOllama) -> None:
    key = deployment.new_user("dave")
    before = served_by_each(deployment)
    started = time.monotonic()
    statuses = [post(deployment.nginx.url, key, CHAT).status_code for _ in range(2 * LIMIT_PER_MINUTE)]
    elapsed = time.monotonic() - started
    after = served_by_each(deployment)
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)  # spread over both
    assert set(statuses) <= {200, 429}, statuses
    # At most the limit, plus what the window gave back while the requests were sent.
    assert statuses.count(200) <= LIMIT_PER_MINUTE + int(elapsed * LIMIT_PER_MINUTE / 60), statuses
    assert statuses.count(200) >= LIMIT_PER_MINUTE, statuses
    assert len(fake.chat_requests()) == statuses.count(200)  # refused requests never reached the model


@NEEDS_REDIS
def test_a_revocation_on_one_instance_is_refused_by_the_other_within_a_second(deployment: Deployment) -> None:
    key = deployment.new_user("erin")
    first, second = deployment.instances
    # Both instances know the key and hold it in their auth caches.
    assert post(first.url, key, CHAT).status_code == 200
    assert post(second.url, key, CHAT).status_code == 200
    [row] = deployment.sql("SELECT id FROM api_keys WHERE prefix = $1", key[:12])
    dashboard = _dashboard(first.url, "erin")
    try:
        page = dashboard.get(f"/keys/{row['id']}/revoke")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, page.text
        assert dashboard.post(f"/keys/{row['id']}/revoke", data={"csrf_token": token.group(1)}).status_code == 302
    finally:
        dashboard.close()
    revoked_at = time.monotonic()

    def status_on_second() -> int:  # /v1/models authenticates but is not rate limited
        return httpx.get(second.url + "/v1/models", headers={"authorization": f"Bearer {key}"}, timeout=10).status_code

    while (status := status_on_second()) != 401:
        assert status == 200
        assert time.monotonic() - revoked_at < 1.0, "the other instance still accepts the revoked key"
        time.sleep(0.05)


# Last in the module: nginx leaves the stopped instance out of its rotation for fail_timeout (10 s)
# even after it is back, so a test after this one would find one instance serving everything.
def test_the_balancer_moves_on_when_an_instance_stops(deployment: Deployment) -> None:
    key = deployment.new_user("frank")
    second = deployment.instances[1]
    second.stop()
    try:
        # nginx finds the stopped instance refusing connections and sends each request to the other.
        assert [post(deployment.nginx.url, key, CHAT).status_code for _ in range(4)] == [200] * 4
    finally:
        deployment.instances[1] = Served(second.env, second.workers, second.log.with_suffix(".restarted.log"),
                                         port=second.port)  # fmt: skip
