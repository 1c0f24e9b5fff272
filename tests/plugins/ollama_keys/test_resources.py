"""Resource figures: fetched in the background, at most once per 10 minutes per key, across instances."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from plugins.ollama_keys import resources
from plugins.ollama_keys.models import OllamaKey
from tests.fake_ollama import FakeOllama, KeyBehaviour
from tests.plugins.ollama_keys.conftest import add_keys

A = "figures-key-aaaa-1111"
ROOT = Path(__file__).resolve().parents[3]


def usage_calls(fake: FakeOllama) -> int:
    return sum(1 for r in fake.requests if r.path == "/api/usage")


def make_due(gateway, key_id: int) -> None:
    gateway.run(OllamaKey.filter(id=key_id).update(usage_next_fetch_at=None))


def settle(gateway, key_id: int, predicate, timeout: float = 3.0) -> OllamaKey:
    deadline = time.monotonic() + timeout
    while True:
        row = gateway.run(OllamaKey.get(id=key_id))
        if predicate(row) or time.monotonic() > deadline:
            return row
        time.sleep(0.05)


def test_a_page_gets_cached_figures_at_once_and_one_background_fetch(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway()
    user = add_keys(gateway, [A])
    key_id = user.key_ids[A]
    assert usage_calls(fake) == 1  # checked when added
    svc = gateway.state.services["ollama_keys"]
    views = gateway.run(svc.list_keys(user.user_id, refresh=True))
    assert views[0].session_used == 0.1 and views[0].plan == "pro"
    assert usage_calls(fake) == 1  # not due: nothing fetched
    make_due(gateway, key_id)
    fake.keys[A] = KeyBehaviour(usage={"limits": {"session": {"usage": 0.5}, "weekly": {"usage": 0.25}}})
    for _ in range(5):  # a page polled five times
        gateway.run(svc.list_keys(user.user_id, refresh=True))
    row = settle(gateway, key_id, lambda r: r.usage and r.usage["limits"]["session"]["usage"] == 0.5)
    assert usage_calls(fake) == 2
    assert row.usage_next_fetch_at - row.usage_fetched_at >= timedelta(minutes=10) - timedelta(seconds=1)
    assert svc.request_refresh(key_id) is False  # the in-process layer knows the next allowed time


def test_failed_fetch_keeps_its_reason_and_waits_for_the_next_period(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway()
    user = add_keys(gateway, [A])
    key_id = user.key_ids[A]
    make_due(gateway, key_id)
    fake.keys[A] = KeyBehaviour(status=503)
    assert gateway.run(resources.refresh(gateway.state.http, gateway.state.secret_box, fake.url, key_id))
    row = gateway.run(OllamaKey.get(id=key_id))
    assert "503" in (row.usage_error or "") and A not in row.usage_error
    assert row.usage_next_fetch_at > datetime.now(UTC) + timedelta(minutes=9)
    assert not gateway.run(resources.refresh(gateway.state.http, gateway.state.secret_box, fake.url, key_id))


def test_refresh_clears_an_exhausted_mark_below_the_limit(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway()
    user = add_keys(gateway, [A])
    key_id = user.key_ids[A]
    now = datetime.now(UTC)
    gateway.run(
        OllamaKey.filter(id=key_id).update(
            exhausted_since=now, exhausted_until=now + timedelta(days=3), exhausted_window="weekly", usage_next_fetch_at=None
        )
    )
    fake.keys[A] = KeyBehaviour(usage={"limits": {"session": {"usage": 0.0}, "weekly": {"usage": 1.0}}})
    gateway.run(resources.refresh(gateway.state.http, gateway.state.secret_box, fake.url, key_id))
    assert gateway.run(OllamaKey.get(id=key_id)).exhausted_since is not None  # still at the weekly limit
    gateway.run(OllamaKey.filter(id=key_id).update(usage_next_fetch_at=None))
    fake.keys[A] = KeyBehaviour(usage={"limits": {"session": {"usage": 0.0}, "weekly": {"usage": 0.0}}})
    gateway.run(resources.refresh(gateway.state.http, gateway.state.secret_box, fake.url, key_id))
    row = gateway.run(OllamaKey.get(id=key_id))
    assert row.exhausted_since is None and row.exhausted_until is None


def test_claim_is_won_by_exactly_one_of_many(keyed_gateway, database_url: str, fake: FakeOllama) -> None:
    gateway = keyed_gateway(database_url)
    key_id = add_keys(gateway, [A]).key_ids[A]
    make_due(gateway, key_id)

    async def race() -> list[bool]:
        import asyncio

        now = datetime.now(UTC)
        return await asyncio.gather(*(resources.claim(key_id, now) for _ in range(10)))

    assert sorted(gateway.run(race())) == [False] * 9 + [True]


SECOND_INSTANCE = """
import asyncio, sys
import httpx
from config.settings import load_settings
from plugins.ollama_keys import resources
from proxy.plugin_host import build_runner, model_apps
from proxy.security import SecretBox
from proxy.storage.database import close_database, open_database

async def main():
    settings = load_settings()
    await open_database(settings, model_apps(build_runner(settings)[0]))  # the plugins' tables too
    try:
        async with httpx.AsyncClient(trust_env=False) as http:
            done = await resources.refresh(http, SecretBox(settings.secret_bytes), settings.ollama_cloud_url, int(sys.argv[1]))
        print("fetched" if done else "not due")
    finally:
        await close_database()

asyncio.run(main())
"""


def test_ten_minute_bound_holds_across_instances(keyed_gateway, database_url: str, fake: FakeOllama) -> None:
    """The gateway and two other processes on one database ask for the same key's figures at once."""
    gateway = keyed_gateway(database_url)
    key_id = add_keys(gateway, [A]).key_ids[A]
    make_due(gateway, key_id)
    fake.requests.clear()
    env = {
        **os.environ,
        "LLMGATE_DATABASE_URL": gateway.settings.database_url,
        "LLMGATE_SECRET_KEY": gateway.settings.secret_key,
        "LLMGATE_OLLAMA_CLOUD_URL": fake.url,
        "LLMGATE_DATA_DIR": str(gateway.settings.data_dir),
    }

    def other_instance(_: int) -> str:
        result = subprocess.run(
            [sys.executable, "-c", SECOND_INSTANCE, str(key_id)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout.strip()

    with ThreadPoolExecutor(2) as pool:
        others = pool.map(other_instance, range(2))
        mine = gateway.run(resources.refresh(gateway.state.http, gateway.state.secret_box, fake.url, key_id))
        outcomes = sorted([*others, "fetched" if mine else "not due"])
    assert outcomes == ["fetched", "not due", "not due"]
    assert usage_calls(fake) == 1
