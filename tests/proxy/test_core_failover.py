"""Failover is the core's: a plugin that wraps every stream does not stop it, and one table names
what an upstream error text means."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from proxy.context import RequestContext, Upstream, UpstreamFailure
from proxy.errors import APIError
from proxy.failures import FailureVerdict, code_for_error, code_for_text, failure_to_error
from proxy.hookspecs import hookimpl
from tests.fake_ollama import FakeOllama, Reply
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer

ASK_CHAT = {"model": "llama3.2", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
ASK_RESPONSES = {"model": "gpt-5.4", "input": "go", "store": False, "stream": True}


class TwoUpstreams:
    def __init__(self, url: str) -> None:
        self.candidates = [Upstream("first", url), Upstream("second", url)]

    @hookimpl(tryfirst=True)
    def select_upstream(self, ctx: RequestContext) -> list[Upstream]:
        return self.candidates


class WrapsEveryStream:
    """A third-party plugin whose wrapper runs before the mode's (tryfirst: innermost), so the
    mode never sees the core's upstream body; it counts the attempts it was given."""

    def __init__(self) -> None:
        self.attempts = 0

    @hookimpl(tryfirst=True)
    def stream_transform_response(self, ctx: RequestContext, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        return self.wrap(stream)

    async def wrap(self, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        self.attempts += 1
        async for chunk in stream:
            yield chunk


class Outermost(WrapsEveryStream):
    """The same, outside the mode's wrapper (trylast: the client reads from it)."""

    @hookimpl(trylast=True)
    def stream_transform_response(self, ctx: RequestContext, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        return self.wrap(stream)


def post_stream(gateway: GatewayServer, key: str, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
    with httpx.stream("POST", gateway.url + path, json=body, headers={"authorization": f"Bearer {key}"},
                      timeout=30) as response:  # fmt: skip
        return response.status_code, response.read()


def chat_text(raw: bytes) -> str:
    chunks = [json.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: {")]
    return "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])


def response_events(raw: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: ")]


@pytest.mark.parametrize("wrapper", [WrapsEveryStream, Outermost])
def test_bypass_fails_over_behind_a_wrapping_plugin(start_gateway, fake: FakeOllama, wrapper: type) -> None:
    wrapping = wrapper()
    gateway = start_gateway(
        overrides={"plugins": {"bypass": {"keepalive_seconds": 0.2}}},
        extra_plugins={"two_upstreams": TwoUpstreams(fake.url), "wrapping": wrapping},
    )
    # The first upstream keeps the client waiting (keepalives go out), then ends without an answer.
    fake.queue(Reply(truncate=True, first_token_delay=0.8), Reply(content="from the second"))
    status, raw = post_stream(gateway, make_key(gateway), "/v1/chat/completions", ASK_CHAT)
    assert status == 200
    assert raw.startswith(b": keepalive\n\n") and raw.endswith(b"data: [DONE]\n\n")
    assert chat_text(raw) == "from the second" and b"error" not in raw
    first, second = fake.chat_requests()
    assert second.json["messages"] == first.json["messages"] != []  # the whole request, again
    assert wrapping.attempts == 2  # the wrapper chain was built again for the second candidate


@pytest.mark.parametrize("wrapper", [WrapsEveryStream, Outermost])
def test_emulator_fails_over_behind_a_wrapping_plugin(start_gateway, fake: FakeOllama, wrapper: type) -> None:
    wrapping = wrapper()
    gateway = start_gateway(
        overrides={"plugins": {"emulator": {"commit_after_seconds": 0.1, "heartbeat_seconds": 0.2}}},
        extra_plugins={"two_upstreams": TwoUpstreams(fake.url), "wrapping": wrapping},
    )
    key = make_key(gateway, mode="emulator")
    # Committed and heartbeating, then the first upstream sends an error line before any output.
    fake.queue(Reply(mid_stream_error="model runner crashed", first_token_delay=0.7), Reply(content="second"))
    status, raw = post_stream(gateway, key, "/v1/responses", ASK_RESPONSES)
    events = response_events(raw)
    assert status == 200
    kinds = [event["type"] for event in events]
    # One Response, opened once: the second candidate continues what the client has seen.
    assert kinds.count("response.created") == 1 and kinds.count("response.in_progress") >= 2
    assert [event["sequence_number"] for event in events] == list(range(len(events)))
    assert kinds[-1] == "response.completed"
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "second"
    first, second = fake.chat_requests()
    assert second.json["messages"] == first.json["messages"] != []  # the whole request, again
    assert wrapping.attempts == 2


class NeverRetries:
    def __init__(self) -> None:
        self.seen: list[UpstreamFailure] = []

    @hookimpl(tryfirst=True)
    def classify_upstream_failure(self, ctx: RequestContext, failure: UpstreamFailure) -> FailureVerdict:
        self.seen.append(failure)
        return FailureVerdict(retry=False)


def test_a_verdict_against_retrying_ends_the_stream_with_the_error(start_gateway, fake: FakeOllama) -> None:
    verdicts = NeverRetries()
    gateway = start_gateway(extra_plugins={"two_upstreams": TwoUpstreams(fake.url), "never": verdicts})
    fake.queue(Reply(truncate=True), Reply(content="never asked"))
    status, raw = post_stream(gateway, make_key(gateway), "/v1/chat/completions", ASK_CHAT)
    assert status == 502 and json.loads(raw)["error"]["code"] == "upstream_unreachable"
    assert len(fake.chat_requests()) == 1
    assert [failure.upstream.label for failure in verdicts.seen] == ["first"]
    assert "without an answer" in verdicts.seen[0].message


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("prompt too long; exceeded max context length by 12 tokens", "context_length_exceeded"),
        ("you (alice) have reached your weekly usage limit", "usage_limit_reached"),
        ("timed out waiting for a concurrent request slot", "rate_limit_exceeded"),
        ("Rate limit exceeded", "rate_limit_exceeded"),
        ("Server overloaded", "server_is_overloaded"),
        ("model runner crashed", None),
    ],
)
def test_one_table_names_upstream_error_texts(text: str, code: str | None) -> None:
    assert code_for_text(text) == code


def test_the_client_error_follows_the_table_with_or_without_a_status() -> None:
    upstream = Upstream("u", "http://u")
    overflow = failure_to_error(UpstreamFailure(upstream, None, "context window exceeded"))
    assert (overflow.status, overflow.code) == (400, "context_length_exceeded")
    spent = failure_to_error(UpstreamFailure(upstream, 429, "you have reached your weekly usage limit"))
    assert spent.status == 429 and "retry-after" not in spent.headers
    busy = failure_to_error(UpstreamFailure(upstream, 429, "too many requests"))
    assert busy.status == 429 and busy.headers["retry-after"] == "2"
    lost = failure_to_error(UpstreamFailure(upstream, None, "could not reach upstream u"))
    assert (lost.status, lost.code) == (502, "upstream_unreachable")


def test_an_error_without_a_telling_text_gets_its_code_from_its_status() -> None:
    assert code_for_error(APIError("upstream u answered 429: busy", status=429)) == "rate_limit_exceeded"
    assert code_for_error(APIError("upstream u answered 503: down", status=503)) == "server_is_overloaded"
    assert code_for_error(APIError("prompt too long", status=502)) == "context_length_exceeded"
    assert code_for_error(APIError("upstream u answered 500", status=502)) is None
