"""Bypass mode end to end: the openai SDK through a bypass key to the fake Ollama."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from tests.fake_ollama import FakeOllama, Reply
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer


def client(gateway: GatewayServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)


def test_sdk_chat_completion_non_streaming(start_gateway, database_url: str, fake: FakeOllama) -> None:
    gateway = start_gateway(database_url=database_url)
    fake.queue(Reply(content="Paris is the capital."))
    result = client(gateway, make_key(gateway)).chat.completions.create(
        model="llama3.2", messages=[{"role": "user", "content": "Capital of France?"}]
    )
    assert result.choices[0].message.content == "Paris is the capital."
    assert result.usage and result.usage.completion_tokens > 0
    sent = fake.chat_requests()[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.json["messages"] == [{"role": "user", "content": "Capital of France?"}]


def test_sdk_streaming_arrives_chunk_by_chunk(start_gateway, database_url: str, fake: FakeOllama) -> None:
    gateway = start_gateway(database_url=database_url)
    fake.queue(Reply(content="one two three four", chunk_delay=0.05))
    stream = client(gateway, make_key(gateway)).chat.completions.create(
        model="llama3.2", messages=[{"role": "user", "content": "count"}], stream=True
    )
    arrivals, text = [], ""
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter())
            text += chunk.choices[0].delta.content
    assert text == "one two three four"
    # Relayed as they come, not buffered: the pieces arrive spread over the upstream's delays.
    assert len(arrivals) >= 4 and arrivals[-1] - arrivals[0] > 0.1


def test_sdk_tool_call_round_trip(gateway: GatewayServer, fake: FakeOllama) -> None:
    fake.queue(Reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}]), Reply(content="It is sunny."))
    sdk = client(gateway, make_key(gateway))
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    messages: list = [{"role": "user", "content": "Weather in Oslo?"}]
    first = sdk.chat.completions.create(model="llama3.2", messages=messages, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Oslo"}
    messages += [first.choices[0].message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    second = sdk.chat.completions.create(model="llama3.2", messages=messages, tools=tools)
    assert second.choices[0].message.content == "It is sunny."
    assert fake.chat_requests()[-1].json["messages"][-1] == {"role": "tool", "tool_call_id": call.id, "content": "sunny"}


def test_streamed_tool_call(gateway: GatewayServer, fake: FakeOllama) -> None:
    fake.queue(Reply(tool_calls=[{"name": "lookup", "arguments": {"q": "x"}}]))
    stream = client(gateway, make_key(gateway)).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "go"}], stream=True,
        tools=[{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
    )
    calls = [tc for chunk in stream if chunk.choices for tc in (chunk.choices[0].delta.tool_calls or [])]
    assert calls and calls[0].function.name == "lookup" and json.loads(calls[0].function.arguments) == {"q": "x"}


def test_missing_model_takes_user_choice_then_server_default(gateway: GatewayServer, fake: FakeOllama) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}]}
    default_key = make_key(gateway, username="dora")
    httpx.post(gateway.url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {default_key}"})
    assert fake.chat_requests()[-1].json["model"] == gateway.settings.default_model
    chosen_key = make_key(gateway, username="carl", model="qwen3:8b")
    response = httpx.post(gateway.url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {chosen_key}"})
    assert fake.chat_requests()[-1].json["model"] == "qwen3:8b"
    assert response.headers["x-llmgate-upstream-model"] == "qwen3:8b"


def test_cloud_suffix_kept_for_a_local_daemon(gateway: GatewayServer, fake: FakeOllama) -> None:
    body = {"model": "gpt-oss:120b-cloud", "messages": [{"role": "user", "content": "hi"}]}
    httpx.post(gateway.url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {make_key(gateway)}"})
    assert fake.chat_requests()[-1].json["model"] == "gpt-oss:120b-cloud"  # the daemon maps it itself


def test_cloud_suffix_dropped_for_ollama_cloud(start_gateway, fake: FakeOllama) -> None:
    cloud = start_gateway(env={"LLMGATE_OLLAMA_CLOUD_URL": fake.url})  # the shared upstream *is* the cloud
    key = make_key(cloud)
    for model in ("gpt-oss:120b-cloud", "gpt-oss:120b:cloud"):
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        httpx.post(cloud.url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})
        assert fake.chat_requests()[-1].json["model"] == "gpt-oss:120b"


def test_body_passes_through_unchanged(gateway: GatewayServer, fake: FakeOllama) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.3, "seed": 7, "x_vendor": {"a": [1, 2]}}
    httpx.post(gateway.url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {make_key(gateway)}"})
    assert fake.chat_requests()[-1].json == body


@pytest.mark.parametrize(
    ("reply", "status", "fragment"),
    [
        (Reply(status=404, error="model 'nope' not found"), 404, "model 'nope' not found"),
        (Reply(status=400, error="invalid tool schema"), 400, "invalid tool schema"),
        (Reply(status=500, error="llama runner crashed"), 502, "llama runner crashed"),
        (Reply(status=503, error="Server overloaded"), 503, "Server overloaded"),
    ],
)
def test_upstream_errors_reach_the_client_in_openai_shape(gateway: GatewayServer, fake: FakeOllama, reply: Reply, status: int, fragment: str) -> None:
    fake.queue(reply, times=2)  # a 5xx is retried once on the next candidate (here: none left)
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        json={"model": "nope", "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {make_key(gateway)}"},
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert fragment in error["message"] and set(error) >= {"message", "type", "code", "param"}


def test_unreachable_upstream_is_502_naming_it(start_gateway) -> None:
    gateway = start_gateway(env={"LLMGATE_UPSTREAM_URL": "http://127.0.0.1:9"})
    with pytest.raises(openai.APIStatusError) as raised:
        client(gateway, make_key(gateway)).chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.status_code == 502
    assert "could not reach upstream shared" in raised.value.message


def test_mid_stream_upstream_error_ends_stream_with_error_event(gateway: GatewayServer, fake: FakeOllama) -> None:
    fake.queue(Reply(content="partial answer", mid_stream_error="model runner has unexpectedly stopped"))
    with httpx.stream(
        "POST", gateway.url + "/v1/chat/completions",
        json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {make_key(gateway)}"},
    ) as response:
        text = response.read().decode()
    assert response.status_code == 200
    assert "unexpectedly stopped" in text


def test_client_disconnect_cancels_upstream_stream(gateway: GatewayServer, fake: FakeOllama) -> None:
    fake.queue(Reply(content="word " * 200, chunk_delay=0.02))
    with httpx.stream(
        "POST", gateway.url + "/v1/chat/completions",
        json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {make_key(gateway)}"},
    ) as response:
        next(response.iter_raw())
    # The client is gone; the gateway must drop its upstream stream at once.
    assert fake.wait_until(lambda: fake.client_disconnects >= 1 and fake.open_streams == 0, timeout=2.0)


def test_stream_cut_off_without_done_is_reported(gateway: GatewayServer, fake: FakeOllama) -> None:
    fake.queue(Reply(content="half an answer", truncate=True))
    with httpx.stream(
        "POST", gateway.url + "/v1/chat/completions",
        json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {make_key(gateway)}"},
    ) as response:
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert "half" in events[0]
    assert "upstream_stream_incomplete" in events[-1] and "data: [DONE]" not in events
