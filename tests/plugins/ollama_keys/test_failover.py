"""Candidate selection and failover in bypass mode, with per-key faults injected through the fake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import orjson

from plugins.ollama_keys import windows
from plugins.ollama_keys.models import OllamaKey, UpstreamAttempt
from tests.fake_ollama import CONCURRENCY_LIMIT, SESSION_LIMIT, WEEKLY_LIMIT, FakeOllama, KeyBehaviour, Reply
from tests.plugins.ollama_keys.conftest import add_keys, bearers

A, B, C = "ok-key-aaaa-1111", "ok-key-bbbb-2222", "ok-key-cccc-3333"


def wait_for(gateway, query, predicate, timeout: float = 3.0):
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = gateway.run(query())
        if predicate(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_preferred_key_serves_with_bare_model_name(keyed_gateway, fake: FakeOllama) -> None:
    user = add_keys(keyed_gateway(), [A, B], preferred=1)
    response = user.chat()
    assert response.status_code == 200
    sent = fake.chat_requests()[-1]
    assert sent.bearer == B and sent.json["model"] == "gpt-oss:120b"


def test_without_a_preferred_key_the_shared_upstream_serves(keyed_gateway, fake: FakeOllama) -> None:
    user = add_keys(keyed_gateway(), [A], preferred=None)
    assert user.chat().status_code == 200
    assert bearers(fake) == [None]


def test_session_limit_marks_the_key_and_moves_on(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway()
    user = add_keys(gateway, [A, B])
    fake.keys[A] = KeyBehaviour(reply=Reply(status=429, error=SESSION_LIMIT))
    before = datetime.now(UTC)
    assert user.chat().status_code == 200
    assert bearers(fake) == [A, B]
    # The marks are written in the background: wait for the last of the writes.
    row = wait_for(gateway, lambda: OllamaKey.get(id=user.key_ids[A]), lambda r: r.last_error is not None)
    assert row.exhausted_window == "session"
    assert row.exhausted_until == windows.session_reset(before)
    assert row.exhausted_since is not None and "session usage limit" in (row.last_error or "")
    # The next request does not try the exhausted key at all.
    assert user.chat().status_code == 200
    assert bearers(fake) == [A, B, B]
    attempts = wait_for(gateway, lambda: UpstreamAttempt.all(), lambda rows: len(rows) == 1)
    assert [(a.ollama_key_id, a.status) for a in attempts] == [(user.key_ids[A], 429)]
    assert A not in attempts[0].message and "session usage limit" in attempts[0].message


def test_weekly_limit_lasts_until_monday(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway()
    user = add_keys(gateway, [A, B])
    fake.keys[A] = KeyBehaviour(reply=Reply(status=429, error=WEEKLY_LIMIT))
    assert user.chat().status_code == 200
    row = wait_for(gateway, lambda: OllamaKey.get(id=user.key_ids[A]), lambda r: r.exhausted_until is not None)
    assert row.exhausted_window == "weekly" and row.exhausted_until.weekday() == 0
    assert row.exhausted_until == windows.weekly_reset(datetime.now(UTC))


def test_invalid_key_is_marked_and_skipped(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway()
    user = add_keys(gateway, [A, B])
    fake.keys[A] = KeyBehaviour(status=401)
    assert user.chat().status_code == 200
    row = wait_for(gateway, lambda: OllamaKey.get(id=user.key_ids[A]), lambda r: r.invalid_since is not None)
    assert row.invalid_since is not None and row.exhausted_since is None
    assert user.chat().status_code == 200
    assert bearers(fake) == [A, B, B]


def test_busy_key_is_not_marked(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway()
    user = add_keys(gateway, [A, B])
    fake.keys[A] = KeyBehaviour(reply=Reply(status=429, error=CONCURRENCY_LIMIT))
    assert user.chat().status_code == 200
    assert user.chat().status_code == 200
    assert bearers(fake) == [A, B, A, B]  # tried again: a busy slot is transient
    row = user.row(A)
    assert row.exhausted_since is None and row.invalid_since is None


def test_subscription_only_model_tries_the_next_key(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway()
    user = add_keys(gateway, [A, B])
    fake.keys[A] = KeyBehaviour(reply=Reply(status=403, error="this model requires a subscription"))
    assert user.chat().status_code == 200
    assert bearers(fake) == [A, B]
    assert user.row(A).exhausted_since is None and user.row(A).invalid_since is None


def test_overloaded_gets_one_more_candidate_then_the_error(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway()
    user = add_keys(gateway, [A, B, C])
    fake.keys[A] = KeyBehaviour(reply=Reply(status=503, error="Server overloaded"))
    fake.keys[B] = KeyBehaviour(reply=Reply(status=503, error="Server overloaded"))
    response = user.chat()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "server_is_overloaded"
    assert bearers(fake) == [A, B]  # C is not tried: 5xx earns one more candidate only
    fake.keys.pop(B)
    assert user.chat().status_code == 200
    assert bearers(fake)[2:] == [A, B]


def test_request_errors_go_straight_back(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway()
    user = add_keys(gateway, [A, B])
    fake.keys[A] = KeyBehaviour(reply=Reply(status=404, error="model 'nope' not found"))
    response = user.chat()
    assert response.status_code == 404 and "not found" in response.json()["error"]["message"]
    assert bearers(fake) == [A]


def test_all_keys_used_up_is_a_usage_limit_for_codex(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway()
    user = add_keys(gateway, [A, B])
    fake.keys[A] = KeyBehaviour(reply=Reply(status=429, error=SESSION_LIMIT))
    fake.keys[B] = KeyBehaviour(reply=Reply(status=429, error=WEEKLY_LIMIT))
    for _ in range(2):  # the first finds out, the second knows without asking
        response = user.chat()
        assert response.status_code == 429
        error = response.json()["error"]
        assert error["type"] == "usage_limit_reached"
        assert error["resets_at"] == int(windows.session_reset(datetime.now(UTC)).timestamp())
        assert "'k0' reached its session usage limit" in error["message"]
        assert "'k1' reached its weekly usage limit" in error["message"]
        assert A not in response.text and B not in response.text
    assert bearers(fake) == [A, B]


def test_shared_fallback_takes_over_when_the_operator_allows(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway(overrides={"shared_fallback": True})
    user = add_keys(gateway, [A])
    fake.keys[A] = KeyBehaviour(reply=Reply(status=429, error=SESSION_LIMIT))
    assert user.chat().status_code == 200
    assert user.chat().status_code == 200
    assert bearers(fake) == [A, None, None]


def test_keys_of_one_account_share_the_mark(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway()
    same = {"id": "acct-shared", "email": "x@example.com", "name": "x", "plan": "pro"}
    fake.keys[A] = KeyBehaviour(me=same, reply=Reply(status=429, error=SESSION_LIMIT))
    fake.keys[B] = KeyBehaviour(me=same)
    user = add_keys(gateway, [A, B, C])
    assert user.chat().status_code == 200
    assert bearers(fake) == [A, C]  # B shares A's quota: skipped at once
    row = wait_for(gateway, lambda: OllamaKey.get(id=user.key_ids[B]), lambda r: r.exhausted_until is not None)
    assert row.exhausted_window == "session"
    views = gateway.run(gateway.state.services["ollama_keys"].list_keys(user.user_id))
    assert views[0].siblings == ["k1"] and views[2].siblings == []


def test_a_passed_window_is_tried_again_and_cleared(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway()
    user = add_keys(gateway, [A, B])
    past = datetime.now(UTC) - timedelta(minutes=1)
    gateway.run(
        OllamaKey.filter(id=user.key_ids[A]).update(
            exhausted_since=past - timedelta(hours=2), exhausted_until=past, exhausted_window="session"
        )
    )
    assert user.chat().status_code == 200
    assert bearers(fake) == [A]
    row = wait_for(gateway, lambda: OllamaKey.get(id=user.key_ids[A]), lambda r: r.exhausted_since is None)
    assert row.exhausted_since is None and row.exhausted_until is None


def test_stream_failing_before_output_moves_on(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway()
    user = add_keys(gateway, [A, B])
    fake.keys[A] = KeyBehaviour(reply=Reply(content="", drop_connection=True))
    fake.keys[B] = KeyBehaviour(reply=Reply(content="from b"))
    response = user.chat(stream=True)
    assert response.status_code == 200
    text = "".join(
        orjson.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        for line in response.text.splitlines()
        if line.startswith("data: {") and '"choices":[{' in line
    )
    assert text == "from b"
    assert bearers(fake) == [A, B]


def test_stream_failing_after_output_ends_with_an_error_event(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway()
    user = add_keys(gateway, [A, B])
    fake.keys[A] = KeyBehaviour(reply=Reply(content="partial answer here", chunk_delay=0.05, drop_connection=True))
    response = user.chat(stream=True)
    assert response.status_code == 200
    events = [line for line in response.text.splitlines() if line.startswith("data: ")]
    assert "partial" in response.text
    assert '"error"' in events[-1]
    assert bearers(fake) == [A]  # the client saw output: no failover
    assert user.row(A).exhausted_since is None


def test_no_secret_in_errors_or_history(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway()
    user = add_keys(gateway, [A])
    fake.keys[A] = KeyBehaviour(reply=Reply(status=400, error=f"bad request for {A}"))
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
        headers={"authorization": f"Bearer {user.api_key}"},
    )
    assert response.status_code == 400
    attempts = wait_for(gateway, lambda: UpstreamAttempt.all(), lambda rows: len(rows) == 1)
    assert attempts and all(A not in a.message for a in attempts)
