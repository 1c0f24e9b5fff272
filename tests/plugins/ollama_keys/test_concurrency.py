"""Item 6: the preferred key is exhausted and 50 requests arrive at once (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.fake_ollama import SESSION_LIMIT, FakeOllama, KeyBehaviour, Reply
from tests.plugins.ollama_keys.conftest import CHAT, add_keys, bearers

A, B = "burst-key-aaaa-1111", "burst-key-bbbb-2222"
CONCURRENT = 50
# Calls that may reach the exhausted key: one probe per worker (the test runs one worker).
MAX_CALLS_TO_EXHAUSTED_KEY = 3


def burst(url: str, api_key: str, n: int = CONCURRENT) -> list[int]:
    start = threading.Barrier(n)

    def one(_: int) -> int:
        with httpx.Client(timeout=30) as client:
            start.wait()  # all 50 leave together
            return client.post(
                url + "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {api_key}"}
            ).status_code

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_exhausted_preferred_key_under_a_burst(keyed_gateway, database_url: str, fake: FakeOllama, record_property) -> None:
    gateway = keyed_gateway(database_url)
    user = add_keys(gateway, [A, B])
    fake.keys[A] = KeyBehaviour(reply=Reply(status=429, error=SESSION_LIMIT))
    statuses = burst(gateway.url, user.api_key)
    reached = bearers(fake).count(A)
    record_property("calls_to_exhausted_key", reached)
    print(f"\n[{database_url.split(':')[0]}] upstream calls that reached the exhausted key: {reached} of {CONCURRENT}")
    assert statuses == [200] * CONCURRENT  # nobody sees a 429 while B has quota
    assert 1 <= reached <= MAX_CALLS_TO_EXHAUSTED_KEY
    assert bearers(fake).count(B) == CONCURRENT
    # Once marked, later bursts leave the key alone until its window passes.
    fake.requests.clear()
    assert burst(gateway.url, user.api_key, 20) == [200] * 20
    assert A not in bearers(fake)


def test_healthy_preferred_key_serves_the_whole_burst(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway()
    user = add_keys(gateway, [A, B])
    assert burst(gateway.url, user.api_key) == [200] * CONCURRENT
    assert bearers(fake) == [A] * CONCURRENT
