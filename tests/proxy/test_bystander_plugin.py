"""A well-behaved third-party plugin that touches every request changes nothing else about any of them.

The bystander raises in ``request_finished``, wraps every stream (passing chunks through) and adds an
upstream header. Two gateways answer the same scripted replies, one with it and one without; the
client must see the same thing from both (ids and clocks aside), in both modes, streaming or not,
with and without failover, and the fake Ollama must have received the header on every attempt.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from proxy.api import RequestContext, UpstreamRequest, hookimpl
from tests.fake_ollama import FakeOllama, Reply
from tests.proxy.test_core_failover import TwoUpstreams
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer

HEADER = "x-bystander"


class Bystander:
    def __init__(self) -> None:
        self.wrapped = 0
        self.chunks = 0

    @hookimpl
    def prepare_upstream_request(self, ctx: RequestContext, request: UpstreamRequest) -> None:
        request.headers = {**(request.headers or {}), HEADER: "was-here"}

    @hookimpl
    def stream_transform_response(
        self, ctx: RequestContext, stream: AsyncIterator[bytes]
    ) -> AsyncIterator[bytes]:
        self.wrapped += 1
        return self._pass_through(stream)

    async def _pass_through(self, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in stream:
            self.chunks += 1
            yield chunk

    @hookimpl
    def request_finished(self, ctx: RequestContext) -> None:
        raise RuntimeError("the bystander's bookkeeping failed")


PATHS = {"bypass": "/v1/chat/completions", "emulator": "/v1/responses"}
BODIES = {
    "bypass": {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]},
    "emulator": {"model": "gpt-5.4", "input": "hi", "store": False},
}
# Values that differ between any two requests, whoever serves them.
VOLATILE_KEYS = {
    "id",
    "created",
    "created_at",
    "completed_at",
    "item_id",
    "response_id",
    "system_fingerprint",
    "total_duration",
    "load_duration",
    "prompt_eval_duration",
    "eval_duration",
}
VOLATILE_IDS = re.compile(rb"(resp|msg|rs|fc|chatcmpl|call)_[A-Za-z0-9_-]+")


def _normalized(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("<volatile>" if k in VOLATILE_KEYS else _normalized(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return value


def client_view(response: httpx.Response, raw: bytes) -> tuple[int, list[Any]]:
    """What a client can tell from an answer: status, and its body or events, minus ids and clocks."""
    raw = VOLATILE_IDS.sub(rb"\1_<id>", raw)
    if not response.headers.get("content-type", "").startswith("text/event-stream"):
        return response.status_code, [_normalized(json.loads(raw))]
    view: list[Any] = []
    for line in raw.split(b"\n"):
        if line.startswith(b"data: {"):
            view.append(_normalized(json.loads(line[6:])))
        elif line:
            view.append(line.decode())  # event: lines, [DONE], keepalive comments
    return response.status_code, view


def ask(gateway: GatewayServer, key: str, mode: str, stream: bool) -> tuple[int, list[Any]]:
    with httpx.stream("POST", gateway.url + PATHS[mode], json={**BODIES[mode], "stream": stream},
                      headers={"authorization": f"Bearer {key}"}, timeout=30) as response:  # fmt: skip
        return client_view(response, response.read())


SCENARIOS = {
    "served": [Reply(content="plain answer")],
    "failover": [Reply(status=503, error="server busy"), Reply(content="from the second")],
    "failover-after-a-broken-stream": [Reply(truncate=True), Reply(content="second time lucky")],
}


# A truncated stream only exists when streaming.
CASES = [(name, stream) for name in SCENARIOS for stream in (False, True) if stream or "stream" not in name]


def run_cases(gateway: GatewayServer, fake: FakeOllama, key: str, mode: str) -> dict[tuple[str, bool], Any]:
    """Every scenario through ``gateway``: what the client saw and the header each attempt carried."""
    seen: dict[tuple[str, bool], Any] = {}
    for name, stream in CASES:
        fake.requests.clear()
        fake.queue(*SCENARIOS[name])
        answer = ask(gateway, key, mode, stream)
        assert fake.queued == 0, f"{mode} {name} stream={stream}: not every scripted reply was asked for"
        seen[name, stream] = answer, [r.headers.get(HEADER) for r in fake.chat_requests()]
    return seen


@pytest.mark.parametrize("mode", ["bypass", "emulator"])
def test_a_bystander_plugin_changes_nothing_else_about_any_request(
    start_gateway, fake: FakeOllama, mode: str
) -> None:
    # One gateway at a time: the database layer is one per process.
    plain = start_gateway(extra_plugins={"two_upstreams": TwoUpstreams(fake.url)})
    expected = run_cases(plain, fake, make_key(plain, mode=mode), mode)
    plain.stop()
    bystander = Bystander()
    with_plugin = start_gateway(
        extra_plugins={"two_upstreams": TwoUpstreams(fake.url), "bystander": bystander}
    )
    seen = run_cases(with_plugin, fake, make_key(with_plugin, mode=mode, username="bob"), mode)
    for name, stream in CASES:
        replies = len(SCENARIOS[name])
        (plain_answer, plain_headers), (answer, headers) = expected[name, stream], seen[name, stream]
        where = f"{mode} {name} stream={stream}"
        assert plain_answer[0] == 200 and plain_headers == [None] * replies, where
        assert answer == plain_answer, where
        assert headers == ["was-here"] * replies, where  # on the failed attempt and the one that served
    assert bystander.wrapped >= 3 and bystander.chunks > 0  # the wrapper really was in every stream
