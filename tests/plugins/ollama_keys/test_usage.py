"""Usage per key: the core records a neutral reference, the plugin counts its own keys by it."""

from __future__ import annotations

import httpx

from plugins.ollama_keys.candidates import key_id_of, usage_ref
from proxy.storage.models import UsageRecord
from tests.fake_ollama import FakeOllama
from tests.plugins.ollama_keys.conftest import add_keys

A, B = "ok-key-aaaa-1111", "ok-key-bbbb-2222"


def test_requests_through_a_key_are_counted_for_that_key(keyed_gateway, fake: FakeOllama, database_url: str) -> None:
    gateway = keyed_gateway(database_url)
    user = add_keys(gateway, [A, B], preferred=1)
    svc = gateway.state.services["ollama_keys"]
    assert user.chat().status_code == 200 and user.chat().status_code == 200
    gateway.run(svc.make_preferred(user.user_id, None))
    assert user.chat().status_code == 200  # the shared upstream
    gateway.run(gateway.state.services["usage_recorder"].flush())

    refs = gateway.run(UsageRecord.filter(user_id=user.user_id).order_by("id").values_list("upstream_ref", flat=True))
    assert refs == [f"ollama_keys:{user.key_ids[B]}"] * 2 + [None]
    views = {view.name: view for view in gateway.run(svc.list_keys(user.user_id))}
    assert (views["k0"].session_requests, views["k1"].session_requests) == (0, 2)
    assert views["k1"].week_requests == 2 and views["k1"].week_tokens > 0

    # Removing a key keeps its usage rows (attributed to a key that no longer exists).
    gateway.run(svc.remove(user.user_id, user.key_ids[B]))
    assert gateway.run(UsageRecord.filter(upstream_ref=usage_ref(user.key_ids[B])).count()) == 2
    assert [view.name for view in gateway.run(svc.list_keys(user.user_id))] == ["k0"]


def test_only_this_plugins_references_name_a_key() -> None:
    assert key_id_of(usage_ref(12)) == 12
    for other in (None, "", "ollama_keys:", "ollama_keys:abc", "other_plugin:12", "ollama_keys_2:12"):
        assert key_id_of(other) is None, other


def test_usage_recorder_writes_the_reference_the_plugin_reads(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway()
    user = add_keys(gateway, [A], preferred=0)
    response = httpx.post(gateway.url + "/v1/chat/completions", json={"model": "gpt-oss:120b-cloud", "messages": "bad"},
                          headers={"authorization": f"Bearer {user.api_key}"})
    assert response.status_code == 400  # refused before any upstream: no reference
    assert user.chat().status_code == 200
    gateway.run(gateway.state.services["usage_recorder"].flush())
    rows = gateway.run(UsageRecord.filter(user_id=user.user_id).order_by("id"))
    assert [(r.status, key_id_of(r.upstream_ref)) for r in rows] == [(400, None), (200, user.key_ids[A])]
