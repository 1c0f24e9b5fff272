"""Token quotas per user and UTC day/month: 429 insufficient_quota saying when it resets, in both modes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from plugins.quotas.models import UserQuota
from proxy.storage.models import User
from tests.fake_ollama import FakeOllama, Reply
from tests.reliability.helpers import assert_openai_error
from tests.support.accounts import make_key
from tests.support.redis_server import RedisServer, redis_server  # noqa: F401

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
RESPONSES = {"model": "gpt-5.4", "input": "hi"}


@pytest.fixture(params=["local", "redis"])
def backend(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "local":
        return {}
    server: RedisServer = request.getfixturevalue("redis_server")
    return {"LLMGATE_REDIS_URL": server.url}


def with_quota(start_gateway, backend: dict[str, str] | None = None, daily: int = 0, monthly: int = 0):
    overrides = {"plugins": {"quotas": {"daily_tokens": daily, "monthly_tokens": monthly}}}
    return start_gateway(overrides=overrides, env=backend or {})


def call(gateway, key: str, mode: str, stream: bool) -> httpx.Response:
    path, body = ("/v1/chat/completions", CHAT) if mode == "bypass" else ("/v1/responses", RESPONSES)
    return httpx.post(gateway.url + path, json={**body, "stream": stream},
                      headers={"authorization": f"Bearer {key}"}, timeout=30)


def tomorrow() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d 00:00 UTC")


def assert_over_quota(answer: httpx.Response, period: str, reset: str) -> None:
    error = assert_openai_error(answer, 429, "insufficient_quota", "insufficient_quota")
    assert f"your {period} token quota" in error["message"], error
    assert f"resets at {reset}" in error["message"], error
    assert int(answer.headers["retry-after"]) >= 1
    assert error["resets_at"] > datetime.now(UTC).timestamp()


def counted(gateway, username: str = "alice") -> None:
    """Wait until the last answer's tokens are counted: they are added just after its last byte
    is sent (request_finished), so the client can be a moment ahead, more so with Redis."""
    service = gateway.state.services["quotas"]
    user = gateway.run(User.get(username=username))
    deadline = time.monotonic() + 5
    while gateway.run(service.check(user.id)) is None:
        assert time.monotonic() < deadline, "the tokens were never counted"
        time.sleep(0.02)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("mode", ["bypass", "emulator"])
def test_over_daily_quota_is_refused_before_the_upstream(start_gateway, fake: FakeOllama, backend, mode, stream) -> None:
    gateway = with_quota(start_gateway, backend, daily=100)
    key = make_key(gateway, mode=mode)
    fake.queue(Reply(content="a long answer", prompt_eval_count=60, eval_count=50))
    first = call(gateway, key, mode, stream)
    assert first.status_code == 200  # 110 tokens: admitted under the quota, may overshoot it
    counted(gateway)
    second = call(gateway, key, mode, stream)
    assert_over_quota(second, "daily", tomorrow())
    assert "110 of 100 tokens" in second.json()["error"]["message"]
    assert len(fake.chat_requests()) == 1  # the refused request never reached Ollama
    # Another user has a quota of their own.
    assert call(gateway, make_key(gateway, mode=mode, username="bob"), mode, stream).status_code == 200


def test_monthly_quota_says_it_resets_on_the_first(start_gateway, fake: FakeOllama) -> None:
    gateway = with_quota(start_gateway, daily=0, monthly=50)
    key = make_key(gateway)
    fake.queue(Reply(content="x", prompt_eval_count=40, eval_count=20))
    assert call(gateway, key, "bypass", False).status_code == 200
    counted(gateway)
    now = datetime.now(UTC)
    first = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
    assert_over_quota(call(gateway, key, "bypass", True), "monthly", first.strftime("%Y-%m-%d 00:00 UTC"))


def test_a_bypass_stream_without_usage_asked_still_counts(start_gateway, fake: FakeOllama) -> None:
    gateway = with_quota(start_gateway, daily=30)
    key = make_key(gateway)
    fake.queue(Reply(content="streamed", prompt_eval_count=20, eval_count=15))
    answer = call(gateway, key, "bypass", True)  # no stream_options: the client asked for no usage
    assert answer.status_code == 200 and '"usage"' not in answer.text
    counted(gateway)
    assert_over_quota(call(gateway, key, "bypass", True), "daily", tomorrow())


def test_usage_recorded_before_start_up_counts(start_gateway, fake: FakeOllama, database_url: str) -> None:
    first = start_gateway(overrides={"plugins": {"quotas": {"daily_tokens": 1000}}}, database_url=database_url)
    key = make_key(first)
    fake.queue(Reply(content="x", prompt_eval_count=700, eval_count=200))
    assert call(first, key, "bypass", False).status_code == 200
    first.stop()  # flushes the usage records
    # A new gateway (new memory) with a lower quota seeds the total from the usage table.
    second = start_gateway(overrides={"plugins": {"quotas": {"daily_tokens": 900}}}, database_url=database_url)
    assert_over_quota(call(second, key, "bypass", False), "daily", tomorrow())


def test_zero_is_unlimited(start_gateway, fake: FakeOllama) -> None:
    gateway = with_quota(start_gateway, daily=0, monthly=0)
    key = make_key(gateway)
    fake.queue(Reply(content="x", prompt_eval_count=10**6, eval_count=10**6), times=3)
    assert [call(gateway, key, "bypass", False).status_code for _ in range(3)] == [200, 200, 200]


def test_an_admins_override_replaces_the_default_and_zero_lifts_it(start_gateway, fake: FakeOllama) -> None:
    gateway = with_quota(start_gateway, daily=10**9)
    key = make_key(gateway)
    fake.queue(Reply(content="x", prompt_eval_count=30, eval_count=30), times=3)
    assert call(gateway, key, "bypass", False).status_code == 200
    service = gateway.app.ctx.state.services["quotas"]
    alice = gateway.run(User.get(username="alice"))
    gateway.run(service.set_quota(alice.id, 50, None))
    assert_over_quota(call(gateway, key, "bypass", False), "daily", tomorrow())
    gateway.run(service.set_quota(alice.id, 0, None))  # 0: unlimited for alice
    assert call(gateway, key, "bypass", False).status_code == 200
    gateway.run(service.set_quota(alice.id, None, None))  # back to the default: the row goes
    assert gateway.run(UserQuota.filter(user_id=alice.id).exists()) is False


def test_default_quotas_are_on_and_generous(make_settings) -> None:
    settings = make_settings()
    table = settings.plugin("quotas")
    assert table["daily_tokens"] >= 10_000_000 and table["monthly_tokens"] >= table["daily_tokens"] * 10


def test_the_shared_table_reuses_slots_of_past_periods() -> None:
    from plugins.quotas.periods import day_of
    from plugins.quotas.totals import FIELDS, PROBES, LocalTotals
    from plugins.rate_limits.local import SharedTable

    totals = LocalTotals(SharedTable.create(shared=False))
    yesterday, today = day_of(datetime.now(UTC) - timedelta(days=1)), day_of(datetime.now(UTC))
    # Users whose probes all start at slot 0: the first PROBES fill every slot the next one can reach.
    slots = totals.slots
    same_start = [user for user in range(1, slots * (PROBES + 2)) if hash((1 << 48) | user) % slots == 0]
    crowd, newcomer = same_start[:PROBES], same_start[PROBES]
    for user in crowd:
        totals.seed(user, yesterday, 5)
    assert all(totals.cells[i * FIELDS] for i in range(PROBES))
    assert totals.seed(newcomer, yesterday, 5) == 5 and totals.get(newcomer, yesterday) is None  # no room
    # Today the newcomer finds room: yesterday's totals count for nothing.
    assert totals.seed(newcomer, today, 7) == 7 and totals.get(newcomer, today) == 7
    totals.add(newcomer, today, 3)
    assert totals.get(newcomer, today) == 10
    assert totals.get(crowd[0], today) is None  # seeded again from the usage table when asked
