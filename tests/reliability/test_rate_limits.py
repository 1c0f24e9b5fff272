"""Abuse limits: request rate and concurrent streams per API key and per user, answered with 429.

Each behaviour runs twice: with the instance's own shared table, and with the counts in Redis.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.settings import SettingsError
from plugins.rate_limits import Limits
from plugins.rate_limits.local import SCOPE_KEY, LocalLimits, SharedTable, identity
from plugins.rate_limits.windows import duration_text, window_at
from tests.fake_ollama import FakeOllama, Reply
from tests.reliability.helpers import assert_openai_error
from tests.support.accounts import make_key
from tests.support.redis_server import RedisServer, redis_server  # noqa: F401

CHAT = "/v1/chat/completions"
MESSAGES = {"messages": [{"role": "user", "content": "hi"}]}
DURATION = re.compile(r"^(\d+ms|(\d+h)?(\d+m)?\d+s)$")
RATE_HEADERS = ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests")


@pytest.fixture(params=["local", "redis"])
def backend(request: pytest.FixtureRequest) -> dict[str, str]:
    """Environment for the gateway: no Redis, or a Redis of the test's own."""
    if request.param == "local":
        return {}
    server: RedisServer = request.getfixturevalue("redis_server")
    return {"LLMGATE_REDIS_URL": server.url}


def limited(start_gateway, backend: dict[str, str], **limits: int):
    table = {"requests_per_minute_per_key": 0, "requests_per_minute_per_user": 0,
             "concurrent_streams_per_key": 0, "concurrent_streams_per_user": 0, **limits}
    return start_gateway(overrides={"plugins": {"rate_limits": table}}, env=backend)


def post(gateway, key: str, **body) -> httpx.Response:
    return httpx.post(gateway.url + CHAT, json={**MESSAGES, **body}, headers={"authorization": f"Bearer {key}"})


def test_request_rate_per_key_is_429_with_retry_after(start_gateway, fake: FakeOllama, backend) -> None:
    gateway = limited(start_gateway, backend, requests_per_minute_per_key=3)
    key = make_key(gateway)
    answers = [post(gateway, key) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["x-ratelimit-limit-requests"] for a in answers] == ["3"] * 3
    assert [a.headers["x-ratelimit-remaining-requests"] for a in answers] == ["2", "1", "0"]
    assert all(DURATION.match(a.headers["x-ratelimit-reset-requests"]) for a in answers), answers[0].headers
    refused = post(gateway, key)
    error = assert_openai_error(refused, 429, "rate_limit_error", "rate_limit_exceeded")
    assert "3 requests per minute" in error["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 120
    # The refusal carries the same headers, so a client knows what it ran into.
    assert refused.headers["x-ratelimit-limit-requests"] == "3"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert DURATION.match(refused.headers["x-ratelimit-reset-requests"])
    assert len(fake.chat_requests()) == 3  # the refused request never reached the upstream
    # Another key of the same user has its own window.
    assert post(gateway, make_key(gateway)).status_code == 200


def test_request_rate_per_user_spans_their_keys(start_gateway, fake: FakeOllama, backend) -> None:
    gateway = limited(start_gateway, backend, requests_per_minute_per_key=50, requests_per_minute_per_user=2)
    first, second = make_key(gateway), make_key(gateway)
    ok = post(gateway, first)
    assert ok.status_code == 200
    # The user's limit is the tighter one: it is the one the headers describe.
    assert ok.headers["x-ratelimit-limit-requests"] == "2" and ok.headers["x-ratelimit-remaining-requests"] == "1"
    assert post(gateway, second).status_code == 200
    error = assert_openai_error(post(gateway, first), 429, "rate_limit_error", "rate_limit_exceeded")
    assert "this user" in error["message"]
    assert post(gateway, make_key(gateway, username="bob")).status_code == 200  # others are not affected


def _held_streams(gateway) -> int:
    limiter = gateway.state.services["rate_limits"]
    key_ids = gateway.run(_all_key_ids())
    local = sum(limiter.local.streams(identity(SCOPE_KEY, i)) for i in key_ids)
    if limiter.redis is None:
        return local
    return local + sum(gateway.run(limiter.redis.streams(f"key:{i}")) for i in key_ids)


async def _all_key_ids() -> list[int]:
    from proxy.storage.models import ApiKey

    return [key.id for key in await ApiKey.all()]


def test_concurrent_streams_per_key_and_release(start_gateway, fake: FakeOllama, backend) -> None:
    gateway = limited(start_gateway, backend, requests_per_minute_per_key=100,
                      concurrent_streams_per_key=1, concurrent_streams_per_user=2)
    key = make_key(gateway)
    fake.queue(Reply(content="a slow answer that takes its time", chunk_delay=0.4))  # open for ~2.5 s
    opened = threading.Event()
    done: list[httpx.Response] = []

    def slow_stream() -> None:
        with httpx.stream("POST", gateway.url + CHAT, json={**MESSAGES, "stream": True},
                          headers={"authorization": f"Bearer {key}"}) as response:
            opened.set()
            response.read()
            done.append(response)

    thread = threading.Thread(target=slow_stream)
    thread.start()
    assert opened.wait(5)
    refused = post(gateway, key, stream=True)
    assert_openai_error(refused, 429, "rate_limit_error", "concurrency_limit_exceeded")
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["x-ratelimit-limit-requests"] == "100"
    assert post(gateway, key).status_code == 200  # a non-streaming request is not a stream
    assert post(gateway, make_key(gateway), stream=True).status_code == 200  # the user's second slot
    thread.join(10)
    # The stream's response headers, sent before its body, carry the request limit.
    assert [r.status_code for r in done] == [200]
    assert done[0].headers["x-ratelimit-limit-requests"] == "100"
    assert done[0].headers["x-ratelimit-remaining-requests"] == "99"
    assert DURATION.match(done[0].headers["x-ratelimit-reset-requests"])
    # request_finished runs just after the last byte is sent, so the client may be a moment ahead.
    assert fake.wait_until(lambda: _held_streams(gateway) == 0, 3)
    assert post(gateway, key, stream=True).status_code == 200  # the slot was released
    assert fake.wait_until(lambda: _held_streams(gateway) == 0, 3)


def test_slot_is_released_when_the_client_goes_away(start_gateway, fake: FakeOllama, backend) -> None:
    gateway = limited(start_gateway, backend, concurrent_streams_per_key=1)
    key = make_key(gateway)
    fake.queue(Reply(content="never finishes", stall_after_first=True))
    with httpx.stream("POST", gateway.url + CHAT, json={**MESSAGES, "stream": True},
                      headers={"authorization": f"Bearer {key}"}) as response:
        next(response.iter_raw())
    assert fake.wait_until(lambda: fake.open_streams == 0, 3)
    assert fake.wait_until(lambda: _held_streams(gateway) == 0, 3)
    assert post(gateway, key, stream=True).status_code == 200


def test_defaults_stop_a_runaway_loop(gateway, fake: FakeOllama) -> None:
    """A fresh configuration: a loop without a pause meets the per-key limit; its first minutes do not."""
    key = make_key(gateway)
    limiter = gateway.state.services["rate_limits"]
    limit = limiter.limits.requests_per_minute_per_key
    # Time stands still (the middle of a minute), so a slow machine cannot stretch the loop over two.
    limiter.local.clock = lambda: 6030.0
    assert limit > 60  # above a Codex tool loop's one request a second
    statuses: list[int] = []
    with httpx.Client(base_url=gateway.url, headers={"authorization": f"Bearer {key}"}) as client:
        while len(statuses) < limit + 5:
            answer = client.post(CHAT, json=MESSAGES)
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                break
    assert statuses[:limit] == [200] * limit
    assert statuses[limit] == 429
    assert answer.headers["x-ratelimit-limit-requests"] == str(limit)


def test_defaults_are_on() -> None:
    from config.settings import load_settings

    settings = load_settings(env={"LLMGATE_SECRET_KEY": "x" * 32}, ensure_secret=False)
    limits = Limits.from_table(settings.plugin("rate_limits"))
    assert limits.requests_per_minute_per_key and limits.requests_per_minute_per_user
    assert limits.concurrent_streams_per_key >= 4 and limits.concurrent_streams_per_user >= limits.concurrent_streams_per_key


class Clock:
    def __init__(self) -> None:
        self.now = 6000.0  # the start of a minute

    def __call__(self) -> float:
        return self.now


def test_sliding_window_counts_the_previous_minute_by_its_overlap() -> None:
    clock = Clock()
    local = LocalLimits(SharedTable.create(shared=False), clock=clock)
    scope = [(identity(SCOPE_KEY, 1), 4)]
    assert [local.hit(scope, 60)[1] for _ in range(5)] == [True, True, True, True, False]
    clock.now += 60 + 30  # half-way through the next minute: the last minute counts half (2)
    windows, admitted = local.hit(scope, 60)
    assert admitted and windows[0].remaining == 1
    assert local.hit(scope, 60)[1]
    windows, admitted = local.hit(scope, 60)
    assert not admitted
    assert windows[0].retry_after <= 30  # the last minute's weight is just about to drop below the limit


def test_user_refusal_does_not_spend_the_key_window() -> None:
    local = LocalLimits(SharedTable.create(shared=False), clock=Clock())
    both = [(identity(SCOPE_KEY, 1), 10), (identity(2, 7), 1)]
    assert local.hit(both, 60)[1]
    windows, admitted = local.hit(both, 60)
    assert not admitted
    assert windows[0].current == 1  # the key's count stayed at the one admitted request


def test_window_figures() -> None:
    fresh = window_at(6030.0, 60, 10, 100, 0, 0)
    assert fresh.remaining == 10 and fresh.reset_seconds == 0 and fresh.retry_after == 0
    full = window_at(6030.0, 60, 2, 100, 0, 2)
    assert full.remaining == 0 and full.reset_seconds == 90 and full.retry_after == 30


@settings(max_examples=200, derandomize=True, database=None)
@given(steps=st.lists(st.tuples(st.floats(0, 45), st.integers(1, 4)), min_size=1, max_size=40))
def test_the_shared_table_counts_as_the_sliding_window_says(steps: list[tuple[float, int]]) -> None:
    """Requests spread over a few minutes: each is admitted exactly when ``window_at``'s figures
    (the limits library's sliding window) have room, and the figures the table reports match."""
    clock = Clock()
    local = LocalLimits(SharedTable.create(shared=False), clock=clock)
    scope = identity(SCOPE_KEY, 1)
    limit, written, previous, current = 5, 0, 0, 0
    for pause, count in steps:
        clock.now += pause
        for _ in range(count):
            expected = window_at(clock.now, 60, limit, written, previous, current)
            (window,), admitted = local.hit([(scope, limit)], 60)
            assert admitted == (expected.weighted < limit)
            if admitted:
                written, previous, current = int(clock.now // 60), expected.previous, expected.current + 1
            assert window == window_at(clock.now, 60, limit, written, previous, current)


@pytest.mark.parametrize(("seconds", "text"), [(0.012, "12ms"), (1.0, "1s"), (59.2, "1m0s"), (360, "6m0s"), (3723, "1h2m3s")])
def test_reset_durations_in_openai_format(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


@pytest.mark.parametrize("table", [{"burst": 5}, {"concurrent_streams_per_key": "8"}, {"requests_per_minute": 5}])
def test_bad_settings_are_refused(table: dict) -> None:
    with pytest.raises(SettingsError, match="plugins.rate_limits"):
        Limits.from_table(table)


def test_losing_redis_degrades_and_recovers(start_gateway, fake: FakeOllama, redis_server: RedisServer, caplog) -> None:  # noqa: F811
    """Redis killed under load: every request is still served, a warning and the metric say so,
    and the limits go back to Redis by themselves when it returns."""
    gateway = limited(start_gateway, {"LLMGATE_REDIS_URL": redis_server.url}, requests_per_minute_per_key=10_000)
    key = make_key(gateway)
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=gateway.url, headers={"authorization": f"Bearer {key}"}, timeout=10) as client:
            while not stop.is_set():
                statuses.append(client.post(CHAT, json=MESSAGES).status_code)

    def metric(name: str) -> str:
        text = httpx.get(gateway.url + "/metrics").text
        found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        assert found, text
        return found.group(1)

    thread = threading.Thread(target=load)
    thread.start()
    try:
        assert fake.wait_until(lambda: len(statuses) >= 20, 10)
        assert metric("llmgate_redis_up") == "1"
        redis_server.kill()
        served_before = len(statuses)
        assert fake.wait_until(lambda: len(statuses) >= served_before + 30, 15)
        assert metric("llmgate_redis_up") == "0"
        assert metric("llmgate_redis_fallbacks_total") == "1"
        assert any("Redis is not answering" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
        redis_server.start()  # the same port
        assert fake.wait_until(lambda: metric("llmgate_redis_up") == "1", 10)
        back = len(statuses)
        assert fake.wait_until(lambda: len(statuses) >= back + 20, 10)
    finally:
        stop.set()
        thread.join(15)
    assert set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    # Back on Redis: the counts are there again.
    limiter = gateway.state.services["rate_limits"]
    assert limiter.redis_up and gateway.run(limiter.redis.client.keys("llmgate:limits*"))


class RedisClock:
    """The time the Redis script last counted at, for the local table to count at the same instant."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_redis_counts_and_reports_as_the_shared_table(redis_server: RedisServer) -> None:  # noqa: F811
    """The same hits, at the same instants, against the Redis script and the instance's table: the
    same admissions and the same figures for the headers, within windows and across their boundaries
    (a window of 0.2 s, so Redis's own clock crosses several), all or none across a key and its user."""
    from plugins.rate_limits.shared import RedisLimits

    redis = RedisLimits(redis_server.url)
    clock = RedisClock()
    script = redis._hit

    async def timed_script(keys: list[str], args: list) -> list:
        reply = await script(keys=keys, args=args)
        clock.now = int(reply[1]) + int(reply[2]) / 1_000_000
        return reply

    redis._hit = timed_script
    local = LocalLimits(SharedTable.create(shared=False), clock=clock)
    period, user_limit = 0.2, 5
    keys = {"key:1": 3, "key:2": 4}
    pauses = random.Random(13)
    seen = {"admitted": 0, "refused": 0, "previous": 0, "full": 0}
    try:
        for _ in range(60):
            name = pauses.choice(sorted(keys))
            remote, admitted = await redis.hit([(name, keys[name]), ("user:1", user_limit)], period)
            scopes = [(identity(SCOPE_KEY, int(name[4:])), keys[name]), (identity(2, 1), user_limit)]
            assert local.hit(scopes, period) == (remote, admitted), name
            seen["admitted" if admitted else "refused"] += 1
            seen["previous"] += any(w.previous for w in remote)
            seen["full"] += any(not w.previous and w.current == w.limit for w in remote)  # exactly at the limit
            await asyncio.sleep(pauses.choice([0, 0, 0, 0, 0, 0.01, 0.05, 0.12, 0.45]))
    finally:
        await redis.close()
    assert all(seen.values()), seen  # both answers, windows that carried a previous count, a full one
