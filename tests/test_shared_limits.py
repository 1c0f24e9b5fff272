"""Limits and revocations that hold across worker processes and instances, as ``llmgate serve`` runs them.

Without Redis, an instance's workers share one table in memory; with Redis, every instance
shares the counts there, and revocations are announced to all of them.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.fake_ollama import FakeOllama
from tests.support.redis_server import RedisServer, redis_server  # noqa: F401
from tests.test_multiworker import CHAT, Served, cli, gateway_env, new_key, pg_url, served  # noqa: F401

LIMIT = 10


def burst(url: str, key: str, count: int) -> list[httpx.Response]:
    """``count`` requests at once, each on a new connection, so every worker accepts some."""

    async def run() -> list[httpx.Response]:
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30,
                                     headers={"authorization": f"Bearer {key}"}) as client:
            return await asyncio.gather(*(client.post("/v1/chat/completions", json=CHAT) for _ in range(count)))

    return asyncio.run(run())


def assert_exactly_the_limit(answers: list[httpx.Response], limit: int) -> None:
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == limit and statuses.count(429) == len(answers) - limit, statuses
    remaining = sorted(int(a.headers["x-ratelimit-remaining-requests"]) for a in answers if a.status_code == 200)
    # One count under one lock, or in one Redis script: each admitted request saw a different number left.
    assert remaining == list(range(limit)), remaining
    assert all(a.headers["x-ratelimit-limit-requests"] == str(limit) for a in answers)


@pytest.mark.parametrize("with_redis", [False, True], ids=["shared-memory", "redis"])
def test_per_key_limit_holds_across_two_workers(
    tmp_path: Path, fake: FakeOllama, served: list[Served], request: pytest.FixtureRequest, with_redis: bool,  # noqa: F811
) -> None:
    extra = {"LLMGATE_REQUESTS_PER_MINUTE_PER_KEY": str(LIMIT)}
    if with_redis:
        extra["LLMGATE_REDIS_URL"] = request.getfixturevalue("redis_server").url
    env = gateway_env(tmp_path, fake, **extra)
    key = new_key(env)
    gateway = Served(env, workers=2, log=tmp_path / "serve.log")
    served.append(gateway)
    answers = burst(gateway.url, key, 3 * LIMIT)
    assert_exactly_the_limit(answers, LIMIT)
    assert len(fake.chat_requests()) == LIMIT


def test_two_instances_share_limits_and_hear_revocations(
    tmp_path: Path, fake: FakeOllama, served: list[Served], pg_url: str, redis_server: RedisServer,  # noqa: F811
) -> None:
    # A long auth cache: only the announcement on Redis can make the revocation this fast.
    env = gateway_env(tmp_path, fake, LLMGATE_DATABASE_URL=pg_url, LLMGATE_REDIS_URL=redis_server.url,
                      LLMGATE_AUTH_CACHE_SECONDS="60", LLMGATE_REQUESTS_PER_MINUTE_PER_KEY=str(LIMIT))
    key = new_key(env)
    first = Served(env, workers=1, log=tmp_path / "first.log")
    served.append(first)
    second = Served(env, workers=1, log=tmp_path / "second.log")
    served.append(second)
    answers = [gateway.chat(key) for _ in range(LIMIT + 5) for gateway in (first, second)]
    assert_exactly_the_limit(answers, LIMIT)  # one after another: each saw the count of both instances
    assert answers[0].status_code == answers[1].status_code == 200  # both served
    # A fresh key, cached by both instances, then revoked on the command line.
    other = cli(env, "api-key", "create", "alice", "--mode", "bypass").strip().splitlines()[-1]
    assert first.chat(other).status_code == 200 and second.chat(other).status_code == 200
    out = cli(env, "api-key", "revoke", other[:12])
    assert "within a second" in out
    revoked_at = time.monotonic()
    refused: dict[str, float] = {}
    while len(refused) < 2:
        elapsed = time.monotonic() - revoked_at
        assert elapsed < 3, f"still accepted {elapsed:.1f} s after revocation (refused: {refused})"
        for name, gateway in (("first", first), ("second", second)):
            if name not in refused and gateway.chat(other).status_code == 401:
                refused[name] = time.monotonic() - revoked_at
        time.sleep(0.02)
    assert max(refused.values()) <= 1.0, refused


@pytest.mark.parametrize("with_redis", [False, True], ids=["shared-memory", "redis"])
def test_token_quota_holds_across_two_workers(
    tmp_path: Path, fake: FakeOllama, served: list[Served], request: pytest.FixtureRequest, with_redis: bool,  # noqa: F811
) -> None:
    from tests.fake_ollama import Reply

    extra = {"LLMGATE_DAILY_TOKENS": "100", "LLMGATE_MONTHLY_TOKENS": "0"}
    if with_redis:
        extra["LLMGATE_REDIS_URL"] = request.getfixturevalue("redis_server").url
    env = gateway_env(tmp_path, fake, **extra)
    key = new_key(env)
    gateway = Served(env, workers=2, log=tmp_path / "serve.log")
    served.append(gateway)
    # Bursts on new connections, so both workers serve some. First one-token requests: both
    # workers start counting this user (6 tokens in all).
    fake.queue(Reply(content="a", prompt_eval_count=1, eval_count=0), times=6)
    assert [a.status_code for a in burst(gateway.url, key, 6)] == [200] * 6
    # Then four of 30 tokens at once: all admitted whatever order they finish in (6 + 3 * 30 < 100),
    # and together they pass the quota (126 tokens).
    fake.queue(Reply(content="b", prompt_eval_count=20, eval_count=10), times=10)
    assert [a.status_code for a in burst(gateway.url, key, 4)] == [200] * 4
    # Every worker now refuses: each knows the other's count (on its own, each would have seen about
    # half and admitted more).
    refused = burst(gateway.url, key, 6)
    assert [a.status_code for a in refused] == [429] * 6, [a.text for a in refused]
    assert all(a.json()["error"]["code"] == "insufficient_quota" for a in refused)
    assert len(fake.chat_requests()) == 10
