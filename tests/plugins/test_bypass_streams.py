"""Bypass streams: usage counted for every stream, keepalive comments while the upstream is silent."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import openai
import pytest

from config.settings import SettingsError
from plugins.bypass import KEEPALIVE, StreamUsage, keepalive_seconds
from proxy.context import Upstream, Usage
from proxy.hookspecs import hookimpl
from proxy.storage.models import UsageRecord
from tests.fake_ollama import FakeOllama, Reply
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer
from tests.support.node_openai import node_openai_or_skip, run_node

CHAT = "/v1/chat/completions"
ASK = {"model": "llama3.2", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
USAGE_EVENT = re.compile(rb'data: \{[^\n]*"choices":\[\],"usage":\{[^\n]*\n\n')


def raw_stream(gateway: GatewayServer, key: str, body: dict) -> tuple[int, bytes]:
    with httpx.stream("POST", gateway.url + CHAT, json=body, headers={"authorization": f"Bearer {key}"},
                      timeout=30) as response:  # fmt: skip
        return response.status_code, response.read()


def events(raw: bytes) -> list[bytes]:
    assert raw.endswith(b"\n\n"), raw[-80:]
    return raw[:-2].split(b"\n\n")


def text_of(received: list[bytes]) -> str:
    chunks = [json.loads(event[6:]) for event in received if event.startswith(b"data: {")]
    return "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])


def same_but_ids(raw: bytes) -> bytes:
    """Two answers of the fake differ only in their id and creation second."""
    return re.sub(rb'"created":\d+', b'"created":0', re.sub(rb'"id":"chatcmpl-\d+"', b'"id":"x"', raw))


def metric(gateway: GatewayServer, name: str) -> float:
    for line in httpx.get(gateway.url + "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.rpartition(" ")[2])
    raise AssertionError(f"{name} not in /metrics")


# --------------------------------------------------------------------------- usage


def test_upstream_is_asked_for_usage_and_the_client_does_not_see_it(gateway: GatewayServer, fake: FakeOllama) -> None:
    key = make_key(gateway)
    reply = Reply(content="one two three", prompt_eval_count=11, eval_count=5)
    fake.queue(reply, reply)
    asked_status, asked = raw_stream(gateway, key, {**ASK, "stream_options": {"include_usage": True}})
    status, hidden = raw_stream(gateway, key, {**ASK, "stream_options": {"include_obfuscation": False}})

    first, second = fake.chat_requests()
    assert first.json["stream_options"] == {"include_usage": True}
    # Usage is asked for; whatever else the client set in stream_options goes along.
    assert second.json["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert asked_status == status == 200
    usage_events = USAGE_EVENT.findall(asked)
    assert len(usage_events) == 1
    assert json.loads(usage_events[0][6:])["usage"] == {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
    # Without it, the stream is the same bytes minus that one event.
    assert not USAGE_EVENT.search(hidden) and b'"usage"' not in hidden
    assert same_but_ids(hidden) == same_but_ids(asked.replace(usage_events[0], b""))
    assert hidden.endswith(b"data: [DONE]\n\n")


def test_stream_options_false_is_replaced_and_non_streams_are_left_alone(gateway: GatewayServer, fake: FakeOllama) -> None:
    key = make_key(gateway)
    raw_stream(gateway, key, {**ASK, "stream_options": {"include_usage": False}})
    httpx.post(gateway.url + CHAT, json={**ASK, "stream": False}, headers={"authorization": f"Bearer {key}"})
    streamed, complete = fake.chat_requests()
    assert streamed.json["stream_options"] == {"include_usage": True}
    assert "stream_options" not in complete.json


@pytest.mark.parametrize(
    ("options", "param"),
    [("yes", "stream_options"), ({"include_usage": "yes"}, "stream_options.include_usage")],
)
def test_bad_stream_options_are_a_clear_400(gateway: GatewayServer, fake: FakeOllama, options: object, param: str) -> None:
    response = httpx.post(gateway.url + CHAT, json={**ASK, "stream_options": options},
                          headers={"authorization": f"Bearer {make_key(gateway)}"})  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert fake.chat_requests() == []


def test_stream_usage_is_recorded_and_counted_in_metrics(start_gateway, database_url: str, fake: FakeOllama) -> None:
    gateway = start_gateway(database_url=database_url)
    key = make_key(gateway)
    before = datetime.now(UTC) - timedelta(seconds=1)
    fake.queue(Reply(content="streamed answer", prompt_eval_count=21, eval_count=4))
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    chunks = list(sdk.chat.completions.create(model="llama3.2", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed answer"
    assert all(c.choices and c.usage is None for c in chunks)  # the client did not ask for usage

    gateway.run(gateway.state.services["usage_recorder"].flush())
    rows = gateway.run(UsageRecord.filter(created_at__gte=before))
    assert [(r.stream, r.input_tokens, r.output_tokens) for r in rows] == [(True, 21, 4)]
    fake.queue(Reply(content="short", prompt_eval_count=3, eval_count=2))
    sdk.chat.completions.create(model="llama3.2", messages=[{"role": "user", "content": "hi"}])
    assert metric(gateway, 'llmgate_tokens_total{direction="input",mode="bypass"}') == 24
    assert metric(gateway, 'llmgate_tokens_total{direction="output",mode="bypass"}') == 6


def test_client_that_asked_for_usage_gets_it_from_the_sdk(gateway: GatewayServer, fake: FakeOllama) -> None:
    fake.queue(Reply(content="counted", prompt_eval_count=9, eval_count=3))
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=make_key(gateway), max_retries=0)
    chunks = list(sdk.chat.completions.create(model="llama3.2", messages=[{"role": "user", "content": "hi"}],
                                              stream=True, stream_options={"include_usage": True}))  # fmt: skip
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (9, 3)


def _ollama_stream(include_usage: bool) -> bytes:
    head = b'"id":"chatcmpl-7","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":"fp_ollama"'
    out = [
        b'data: {' + head + b',"choices":[{"index":0,"delta":{"role":"assistant","content":"say \\"usage\\""},'
        b'"finish_reason":null}]}\n\n',
        b'data: {' + head + b',"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
    ]
    if include_usage:
        out.append(b'data: {' + head + b',"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14}}\n\n')
    return b"".join(out) + b"data: [DONE]\n\n"


@pytest.mark.parametrize("hide", [True, False])
def test_usage_event_found_wherever_the_network_splits_the_stream(hide: bool) -> None:
    upstream = _ollama_stream(include_usage=True)
    expected = _ollama_stream(include_usage=not hide)
    for cut in range(1, len(upstream)):
        for second_cut in (cut + 1, cut + 40, len(upstream)):
            ctx = SimpleNamespace(usage=Usage())
            usage = StreamUsage(ctx, hide=hide)  # type: ignore[arg-type]
            parts = [upstream[:cut], upstream[cut:second_cut], upstream[second_cut:]]
            sent = b"".join(usage.feed(part) for part in parts if part) + usage.finish()
            assert sent == expected, (cut, second_cut)
            assert (ctx.usage.input_tokens, ctx.usage.output_tokens) == (12, 2)


def test_the_common_chunk_passes_as_the_same_object() -> None:
    usage = StreamUsage(SimpleNamespace(usage=Usage()), hide=True)  # type: ignore[arg-type]
    chunk = _ollama_stream(include_usage=False).split(b"\n\n")[0] + b"\n\n"
    assert usage.feed(chunk) is chunk  # no copy, no parse


# --------------------------------------------------------------------------- keepalive


def keepalive_gateway(start_gateway, seconds: float = 0.2, **kwargs) -> GatewayServer:
    return start_gateway(overrides={"plugins": {"bypass": {"keepalive_seconds": seconds}}}, **kwargs)


def test_keepalive_comments_during_a_silence_before_and_within_the_answer(start_gateway, fake: FakeOllama) -> None:
    gateway = keepalive_gateway(start_gateway)
    fake.queue(Reply(content="after a long think", first_token_delay=1.5, chunk_delay=0.6))
    status, raw = raw_stream(gateway, make_key(gateway), ASK)
    assert status == 200
    received = events(raw)
    assert received[0] == KEEPALIVE.rstrip()  # the silence before the first byte
    first_data = next(i for i, event in enumerate(received) if event.startswith(b"data: "))
    assert KEEPALIVE.rstrip() in received[first_data:]  # and the silences between chunks
    # Every event is whole: a comment or a data line, never a comment inside an event.
    assert all(event == b": keepalive" or event.startswith(b"data: {") or event == b"data: [DONE]" for event in received)
    assert text_of(received) == "after a long think" and received[-1] == b"data: [DONE]"


def test_keepalive_zero_switches_them_off(start_gateway, fake: FakeOllama) -> None:
    gateway = keepalive_gateway(start_gateway, seconds=0)
    fake.queue(Reply(content="quiet", first_token_delay=0.6))
    status, raw = raw_stream(gateway, make_key(gateway), ASK)
    assert status == 200 and b"keepalive" not in raw and raw.endswith(b"data: [DONE]\n\n")


def test_failure_before_the_first_keepalive_is_an_http_error(start_gateway, fake: FakeOllama) -> None:
    gateway = keepalive_gateway(start_gateway, seconds=5)
    fake.queue(Reply(status=503, error="Server overloaded"), times=2)
    status, raw = raw_stream(gateway, make_key(gateway), ASK)
    assert status == 503 and json.loads(raw)["error"]["code"] == "server_is_overloaded"


def test_failure_after_a_keepalive_is_the_last_event(start_gateway, fake: FakeOllama) -> None:
    gateway = keepalive_gateway(start_gateway)
    fake.queue(Reply(status=503, error="Server overloaded", first_token_delay=0.8), times=2)
    status, raw = raw_stream(gateway, make_key(gateway), ASK)
    assert status == 200  # committed by the first keepalive
    received = events(raw)
    assert received[0] == b": keepalive"
    assert json.loads(received[-1][6:])["error"]["code"] == "server_is_overloaded"


class TwoUpstreams:
    def __init__(self, url: str) -> None:
        self.candidates = [Upstream("first", url), Upstream("second", url)]

    @hookimpl(tryfirst=True)
    def select_upstream(self, ctx) -> list[Upstream]:
        return self.candidates


def test_failover_after_keepalives_when_the_first_upstream_gives_nothing(start_gateway, fake: FakeOllama) -> None:
    gateway = keepalive_gateway(start_gateway, extra_plugins={"two_upstreams": TwoUpstreams(fake.url)})
    fake.queue(Reply(truncate=True, first_token_delay=0.8), Reply(content="from the second"))
    status, raw = raw_stream(gateway, make_key(gateway), ASK)
    assert status == 200
    received = events(raw)
    assert received[0] == b": keepalive" and received[-1] == b"data: [DONE]"
    assert text_of(received) == "from the second" and b"error" not in raw
    assert len(fake.chat_requests()) == 2


def test_empty_upstream_stream_fails_over_before_any_byte(start_gateway, fake: FakeOllama) -> None:
    gateway = start_gateway(extra_plugins={"two_upstreams": TwoUpstreams(fake.url)})
    fake.queue(Reply(truncate=True), Reply(content="second try"))
    status, raw = raw_stream(gateway, make_key(gateway), ASK)
    assert status == 200 and text_of(events(raw)) == "second try" and raw.endswith(b"data: [DONE]\n\n")


def test_python_sdk_reads_a_stream_with_keepalives(start_gateway, fake: FakeOllama) -> None:
    gateway = keepalive_gateway(start_gateway)
    fake.queue(Reply(content="the python answer", first_token_delay=1.0, chunk_delay=0.4))
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=make_key(gateway), max_retries=0)
    with sdk.chat.completions.with_streaming_response.create(
        model="llama3.2", messages=[{"role": "user", "content": "hi"}], stream=True
    ) as response:
        raw = b"".join(response.iter_bytes())
    assert b": keepalive\n\n" in raw  # the same kind of stream the SDK parses below
    fake.queue(Reply(content="the python answer", first_token_delay=1.0, chunk_delay=0.4))
    stream = sdk.chat.completions.create(model="llama3.2", messages=[{"role": "user", "content": "hi"}], stream=True)
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "the python answer"
    assert chunks[-1].choices[0].finish_reason == "stop"


NODE_SCRIPT = """
import OpenAI from "openai";
const client = new OpenAI({ baseURL: process.env.GATEWAY_URL + "/v1", apiKey: process.env.GATEWAY_KEY, maxRetries: 0 });
const stream = await client.chat.completions.create({
  model: "llama3.2", messages: [{ role: "user", content: "hi" }], stream: true,
});
let text = "", finish = null, chunks = 0;
for await (const chunk of stream) {
  chunks += 1;
  text += chunk.choices[0]?.delta?.content ?? "";
  finish = chunk.choices[0]?.finish_reason ?? finish;
}
console.log(JSON.stringify({ text, finish, chunks }));
"""


def test_node_sdk_reads_a_stream_with_keepalives(start_gateway, fake: FakeOllama) -> None:
    cache_dir = node_openai_or_skip()
    gateway = keepalive_gateway(start_gateway)
    reply = Reply(content="the node answer", first_token_delay=1.0, chunk_delay=0.4)
    fake.queue(reply, reply)
    key = make_key(gateway)
    _, raw = raw_stream(gateway, key, ASK)
    assert raw.count(b": keepalive\n\n") >= 2  # before the first byte and between chunks
    done = run_node(cache_dir, NODE_SCRIPT, {"GATEWAY_URL": gateway.url, "GATEWAY_KEY": key})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["text"] == "the node answer" and result["finish"] == "stop"
    assert result["chunks"] == raw.count(b"data: {")


def test_client_leaving_during_the_silence_closes_the_upstream(start_gateway, fake: FakeOllama) -> None:
    gateway = keepalive_gateway(start_gateway)
    fake.queue(Reply(content="never read", first_token_delay=30))
    with httpx.stream("POST", gateway.url + CHAT, json=ASK, headers={"authorization": f"Bearer {make_key(gateway)}"},
                      timeout=30) as response:  # fmt: skip
        assert response.status_code == 200
        assert next(response.iter_raw()).startswith(KEEPALIVE)
    # The client is gone before the model said a word: the gateway hangs up on the upstream too.
    assert fake.wait_until(lambda: fake.client_disconnects >= 1 and fake.open_streams == 0, timeout=5.0)


def test_keepalive_setting_is_checked(make_settings) -> None:
    assert keepalive_seconds(make_settings()) == 15.0
    assert keepalive_seconds(make_settings(env={"LLMGATE_BYPASS_KEEPALIVE_SECONDS": "2.5"})) == 2.5
    with pytest.raises(SettingsError, match="keepalive_seconds"):
        keepalive_seconds(make_settings({"plugins": {"bypass": {"keepalive_seconds": -1}}}))
