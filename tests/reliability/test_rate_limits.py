"""Abuse limits: request rate and concurrent streams per API key and per user, answered with 429."""

from __future__ import annotations

import threading

import httpx
import pytest

from config.settings import SettingsError
from plugins.rate_limits import Limiter, Limits
from proxy.errors import RateLimited
from tests.fake_ollama import FakeOllama, Reply
from tests.reliability.helpers import assert_openai_error
from tests.support.accounts import make_key

CHAT = "/v1/chat/completions"
MESSAGES = {"messages": [{"role": "user", "content": "hi"}]}


def limited(start_gateway, **limits: int):
    return start_gateway(overrides={"plugins": {"rate_limits": limits}})


def post(gateway, key: str, **body) -> httpx.Response:
    return httpx.post(gateway.url + CHAT, json={**MESSAGES, **body}, headers={"authorization": f"Bearer {key}"})


def test_request_rate_per_key_is_429_with_retry_after(start_gateway, fake: FakeOllama) -> None:
    gateway = limited(start_gateway, requests_per_minute_per_key=3)
    key = make_key(gateway)
    answers = [post(gateway, key) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].headers["x-ratelimit-limit-requests"] == "3"
    assert answers[-1].headers["x-ratelimit-remaining-requests"] == "0"
    refused = post(gateway, key)
    error = assert_openai_error(refused, 429, "rate_limit_error", "rate_limit_exceeded")
    assert "3 requests per minute" in error["message"]
    # One token comes back every 20 s: the client is told to wait that long, not to hammer.
    assert 1 <= int(refused.headers["retry-after"]) <= 20
    assert len(fake.chat_requests()) == 3  # the refused request never reached the upstream
    # Another key of the same user has its own bucket.
    assert post(gateway, make_key(gateway)).status_code == 200


def test_request_rate_per_user_spans_their_keys(start_gateway, fake: FakeOllama) -> None:
    gateway = limited(start_gateway, requests_per_minute_per_user=2)
    first, second = make_key(gateway), make_key(gateway)
    assert post(gateway, first).status_code == 200
    assert post(gateway, second).status_code == 200
    error = assert_openai_error(post(gateway, first), 429, "rate_limit_error", "rate_limit_exceeded")
    assert "this user" in error["message"]
    assert post(gateway, make_key(gateway, username="bob")).status_code == 200  # others are not affected


def test_concurrent_streams_per_key_and_release(start_gateway, fake: FakeOllama) -> None:
    gateway = limited(start_gateway, concurrent_streams_per_key=1, concurrent_streams_per_user=2)
    key = make_key(gateway)
    fake.queue(Reply(content="slow one", chunk_delay=0.3))
    opened = threading.Event()
    done: list[int] = []

    def slow_stream() -> None:
        with httpx.stream("POST", gateway.url + CHAT, json={**MESSAGES, "stream": True},
                          headers={"authorization": f"Bearer {key}"}) as response:
            opened.set()
            response.read()
            done.append(response.status_code)

    thread = threading.Thread(target=slow_stream)
    thread.start()
    assert opened.wait(5)
    refused = post(gateway, key, stream=True)
    assert_openai_error(refused, 429, "rate_limit_error", "concurrency_limit_exceeded")
    assert refused.headers["retry-after"] == "1"
    assert post(gateway, key).status_code == 200  # a non-streaming request is not a stream
    assert post(gateway, make_key(gateway), stream=True).status_code == 200  # the user's second slot
    thread.join(10)
    assert done == [200]
    limiter = gateway.state.services["rate_limits"]
    # request_finished runs just after the last byte is sent, so the client may be a moment ahead.
    assert fake.wait_until(lambda: limiter.streams == {}, 2)
    assert post(gateway, key, stream=True).status_code == 200  # the slot was released
    assert fake.wait_until(lambda: limiter.streams == {}, 2)


def test_slot_is_released_when_the_client_goes_away(start_gateway, fake: FakeOllama) -> None:
    gateway = limited(start_gateway, concurrent_streams_per_key=1)
    key = make_key(gateway)
    fake.queue(Reply(content="never finishes", stall_after_first=True))
    with httpx.stream("POST", gateway.url + CHAT, json={**MESSAGES, "stream": True},
                      headers={"authorization": f"Bearer {key}"}) as response:
        next(response.iter_raw())
    assert fake.wait_until(lambda: fake.open_streams == 0, 3)
    limiter = gateway.state.services["rate_limits"]
    assert fake.wait_until(lambda: limiter.streams == {}, 3)
    assert post(gateway, key, stream=True).status_code == 200


def test_defaults_limit_nothing(gateway, fake: FakeOllama) -> None:
    key = make_key(gateway)
    with httpx.Client(base_url=gateway.url, headers={"authorization": f"Bearer {key}"}) as client:
        assert all(client.post(CHAT, json=MESSAGES).status_code == 200 for _ in range(20))
    assert not gateway.state.services["rate_limits"].limits.active


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_refills_at_the_configured_rate() -> None:
    clock = Clock()
    limiter = Limiter(Limits(requests_per_minute_per_key=60, burst=2), clock=clock)
    limiter.take(1, 1)
    limiter.take(1, 1)
    with pytest.raises(RateLimited) as refused:
        limiter.take(1, 1)
    assert refused.value.headers == {"retry-after": "1"}
    clock.now += 1.0  # one token per second
    limiter.take(1, 1)
    clock.now += 100
    limiter.prune()
    assert limiter.buckets == {}  # full buckets are forgotten


def test_user_refusal_does_not_spend_the_key_bucket() -> None:
    limiter = Limiter(Limits(requests_per_minute_per_key=10, requests_per_minute_per_user=1), clock=Clock())
    limiter.take(1, 7)
    with pytest.raises(RateLimited):
        limiter.take(1, 7)
    assert limiter.buckets[("key", 1)].tokens == 9


@pytest.mark.parametrize("table", [{"burst": -1}, {"concurrent_streams_per_key": "8"}, {"requests_per_minute": 5}])
def test_bad_settings_are_refused(table: dict) -> None:
    with pytest.raises(SettingsError, match="plugins.rate_limits"):
        Limits.from_table(table)
