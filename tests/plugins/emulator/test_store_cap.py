"""The per-user cap on stored responses: the oldest expire first, one larger than the cap is not stored."""

from __future__ import annotations

from typing import Any

import httpx

from plugins.emulator.models import StoredItem, StoredResponse
from tests.fake_ollama import FakeOllama, Reply
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer

ANSWER = "a" * 2000


def ask(gateway: GatewayServer, key: str, **body: Any) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/responses", json={"model": "gpt-5.4", "input": "write", **body},
                      headers={"authorization": f"Bearer {key}"}, timeout=20)  # fmt: skip


def get(gateway: GatewayServer, key: str, response_id: str) -> int:
    return httpx.get(gateway.url + f"/v1/responses/{response_id}", headers={"authorization": f"Bearer {key}"}).status_code


def capped(start_gateway, database_url: str, cap: int) -> GatewayServer:
    return start_gateway(database_url=database_url,
                         overrides={"plugins": {"emulator": {"store_max_bytes_per_user": cap}}})  # fmt: skip


def test_oldest_stored_responses_expire_first_and_an_oversized_one_is_not_stored(
    start_gateway, database_url: str, fake: FakeOllama
) -> None:
    # How much one such response takes, measured with the default cap.
    first = capped(start_gateway, database_url, 100_000_000)
    key = make_key(first, mode="emulator")
    fake.queue(Reply(content=ANSWER), times=5)
    oldest = ask(first, key).json()["id"]
    size = first.run(StoredResponse.get(id=oldest)).size_bytes
    assert size > len(ANSWER)  # the answer is in the row twice (response and conversation)
    first.stop()

    gateway = capped(start_gateway, database_url, size * 7 // 2)  # room for three
    kept = [ask(gateway, key).json()["id"] for _ in range(2)]
    assert all(get(gateway, key, rid) == 200 for rid in [oldest, *kept])
    newest = ask(gateway, key).json()["id"]  # a fourth: the oldest goes, with its items
    assert get(gateway, key, oldest) == 404
    assert gateway.run(StoredItem.filter(response_id=oldest).exists()) is False
    assert all(get(gateway, key, rid) == 200 for rid in [*kept, newest])
    gone = ask(gateway, key, previous_response_id=oldest)
    assert gone.status_code == 400 and gone.json()["error"]["param"] == "previous_response_id"

    # Another user's responses are not touched by alice's cap.
    other = make_key(gateway, mode="emulator", username="bob")
    bobs = ask(gateway, other).json()["id"]

    # One response larger than the whole cap: answered in full, not stored, and nothing evicted.
    fake.queue(Reply(content="b" * (size * 4)))
    huge = ask(gateway, key)
    assert huge.status_code == 200 and huge.json()["output"][0]["content"][0]["text"] == "b" * (size * 4)
    assert get(gateway, key, huge.json()["id"]) == 404
    assert all(get(gateway, key, rid) == 200 for rid in [*kept, newest])
    assert get(gateway, other, bobs) == 200
    total = sum(gateway.run(StoredResponse.filter(user__username="alice").values_list("size_bytes", flat=True)))
    assert total <= size * 7 // 2


def test_store_false_is_never_counted_or_evicted(start_gateway, database_url: str, fake: FakeOllama) -> None:
    gateway = capped(start_gateway, database_url, 100_000_000)
    key = make_key(gateway, mode="emulator")
    fake.queue(Reply(content=ANSWER), times=2)
    kept = ask(gateway, key).json()["id"]
    assert ask(gateway, key, store=False).status_code == 200
    assert gateway.run(StoredResponse.all().count()) == 1 and get(gateway, key, kept) == 200
