"""A crowd of requests of one API key that is not cached: one database load serves them all.

The database load is slowed down (it still runs, against the real database) so that the whole
crowd arrives while it is in flight, as 64 streams starting together do on a busy worker.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest

from plugins import api_key_auth
from proxy.security import hash_api_key
from proxy.storage.models import ApiKey
from tests.fake_ollama import FakeOllama, Reply
from tests.reliability.helpers import stream_ending
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer

CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}], "stream": True}
LOAD_SECONDS = 0.4


class SlowLoads:
    """``load_principal`` counted, and slowed so that concurrent requests overlap it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_first: bool = False) -> None:
        self.calls = 0
        self.fail_first = fail_first
        self._real = api_key_auth.load_principal
        monkeypatch.setattr(api_key_auth, "load_principal", self.load)

    async def load(self, key_hash: str) -> Any:
        self.calls += 1
        await asyncio.sleep(LOAD_SECONDS)
        if self.fail_first and self.calls == 1:
            raise ConnectionError("database is restarting")
        return await self._real(key_hash)


async def _stream(client: httpx.AsyncClient, key: str) -> tuple[int, bytes]:
    headers = {"authorization": f"Bearer {key}"}
    async with client.stream("POST", "/v1/chat/completions", json=CHAT, headers=headers) as response:
        return response.status_code, await response.aread()


def _crowd(gateway: GatewayServer, key: str, count: int) -> list[tuple[int, bytes]]:
    async def run() -> list[tuple[int, bytes]]:
        limits = httpx.Limits(max_connections=count)
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10, limits=limits) as client:
            return await asyncio.gather(*(_stream(client, key) for _ in range(count)))

    return asyncio.run(run())


def test_a_crowd_of_one_uncached_key_waits_for_one_lookup(
    gateway: GatewayServer, fake: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_key(gateway)
    loads = SlowLoads(monkeypatch)
    fake.queue(Reply(content="one two three"), times=12)

    answers = _crowd(gateway, key, 12)

    assert [status for status, _ in answers] == [200] * 12
    assert all(stream_ending(raw) == "done" and b"three" in raw for _, raw in answers)
    assert loads.calls == 1
    assert len(fake.chat_requests()) == 12


def test_a_client_that_leaves_does_not_cancel_the_lookup_the_others_wait_for(
    gateway: GatewayServer, fake: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_key(gateway)
    loads = SlowLoads(monkeypatch)

    async def run() -> list[tuple[int, bytes]]:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
            first = asyncio.ensure_future(_stream(client, key))
            await asyncio.sleep(LOAD_SECONDS / 4)  # the first client's lookup is in flight
            others = [asyncio.ensure_future(_stream(client, key)) for _ in range(3)]
            await asyncio.sleep(LOAD_SECONDS / 4)
            first.cancel()  # it gives up and closes its connection
            await asyncio.gather(first, return_exceptions=True)
            return await asyncio.gather(*others)

    answers = asyncio.run(run())

    assert [status for status, _ in answers] == [200] * 3
    assert all(stream_ending(raw) == "done" for _, raw in answers)
    assert loads.calls == 1
    assert len(fake.chat_requests()) == 3  # the first client never reached the upstream


def test_a_failed_lookup_fails_its_crowd_and_is_not_remembered(
    gateway: GatewayServer, fake: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_key(gateway)
    loads = SlowLoads(monkeypatch, fail_first=True)

    answers = _crowd(gateway, key, 8)

    statuses = {status for status, _ in answers}
    assert len(statuses) == 1 and statuses.pop() >= 500
    assert all("error" in orjson.loads(raw) for _, raw in answers)  # the OpenAI shape
    assert loads.calls == 1
    assert fake.chat_requests() == []
    # The next request looks the key up again, and is served.
    assert [status for status, _ in _crowd(gateway, key, 2)] == [200, 200]
    assert loads.calls == 2


class LateLoads:
    """``load_principal`` reads the database at once and answers late: a revocation can fall in between."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._real = api_key_auth.load_principal
        monkeypatch.setattr(api_key_auth, "load_principal", self.load)

    async def load(self, key_hash: str) -> Any:
        principal = await self._real(key_hash)
        await asyncio.sleep(LOAD_SECONDS)
        return principal


def test_a_lookup_in_flight_when_the_key_is_revoked_serves_nobody_after_it(
    gateway: GatewayServer, fake: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_key(gateway)
    LateLoads(monkeypatch)

    async def revoke() -> None:
        await ApiKey.filter(key_hash=hash_api_key(key)).update(revoked_at=datetime.now(UTC))
        gateway.state.invalidate_auth()  # what the dashboard does on this worker (and Redis on the others)

    async def run() -> tuple[tuple[int, bytes], int, int]:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
            before = asyncio.ensure_future(_stream(client, key))
            await asyncio.sleep(LOAD_SECONDS / 4)  # its lookup has read the key, still valid
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(revoke(), gateway.loop))
            after, _ = await _stream(client, key)  # arrives while that lookup is still in flight
            first = await before
            later, _ = await _stream(client, key)
            return first, after, later

    first, after, later = asyncio.run(run())

    assert first[0] == 200  # sent before the revocation
    assert after == 401 and later == 401  # the stale lookup neither served nor stayed in the cache
