"""Emulator mode end to end: the openai SDK (and raw HTTP where timing matters) through a real gateway
with emulator keys to the fake Ollama."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest

from proxy.context import RequestContext, Upstream
from proxy.hookspecs import hookimpl
from tests.fake_ollama import FakeOllama, Reply
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer

PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CODEX_REQUESTS = Path(__file__).resolve().parents[2] / "data" / "codex" / "requests"
APPLY_PATCH_TOOL = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Edit files with a patch.",
    "format": {"type": "grammar", "syntax": "lark", "definition": 'start: "*** Begin Patch" /(.|\\n)*/'},
}


def sdk(gateway: GatewayServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=20)


def emulator(start_gateway: Any, database_url: str | None = None, **emulator_settings: Any) -> GatewayServer:
    overrides = {"plugins": {"emulator": emulator_settings}} if emulator_settings else None
    return start_gateway(database_url=database_url, overrides=overrides)


def sse_events(gateway: GatewayServer, key: str, body: dict[str, Any]) -> list[tuple[float, dict[str, Any]]]:
    """(seconds since the request, event) for every SSE event of a streamed request."""
    started = time.perf_counter()
    events: list[tuple[float, dict[str, Any]]] = []
    headers = {"authorization": f"Bearer {key}"}
    with httpx.stream("POST", gateway.url + "/v1/responses", json={**body, "stream": True}, headers=headers, timeout=20) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append((time.perf_counter() - started, orjson.loads(line[6:])))
    return events


def types(events: list[tuple[float, dict[str, Any]]]) -> list[str]:
    return [event["type"] for _, event in events]


# --------------------------------------------------------------------------- text


def test_create_text_serves_the_users_model(start_gateway, database_url: str, fake: FakeOllama) -> None:
    gateway = emulator(start_gateway, database_url)
    key = make_key(gateway, mode="emulator", model="qwen3:8b")
    fake.queue(Reply(content="Paris.", prompt_eval_count=12, eval_count=3))
    raw = sdk(gateway, key).responses.with_raw_response.create(
        model="gpt-5.4", instructions="Be brief.", input="Capital of France?", store=False
    )
    response = raw.parse()
    assert response.status == "completed" and response.output_text == "Paris."
    assert response.model == "gpt-5.4"
    assert raw.headers["x-llmgate-upstream-model"] == "qwen3:8b"
    assert response.usage is not None and (response.usage.input_tokens, response.usage.output_tokens) == (12, 3)
    sent = fake.chat_requests()[-1]
    assert sent.path == "/api/chat" and sent.json["model"] == "qwen3:8b" and sent.json["stream"] is False
    assert sent.json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
    ]


def test_other_model_names_pass_through(gateway: GatewayServer, fake: FakeOllama) -> None:
    response = sdk(gateway, make_key(gateway, mode="emulator")).responses.create(model="llama3.2:latest", input="hi", store=False)
    assert response.model == "llama3.2:latest"
    assert fake.chat_requests()[-1].json["model"] == "llama3.2:latest"


def test_stream_text(gateway: GatewayServer, fake: FakeOllama) -> None:
    fake.queue(Reply(content="one two three", thinking="counting"))
    with sdk(gateway, make_key(gateway, mode="emulator")).responses.stream(
        model="gpt-5.4", input="count", reasoning={"effort": "high", "summary": "auto"}, store=False
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert "response.reasoning_summary_text.delta" in kinds and "response.output_text.delta" in kinds
    assert final.output_text == "one two three"
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert fake.chat_requests()[-1].json["think"] == "high"


def test_list_models_shows_emulated_names(start_gateway, fake: FakeOllama) -> None:
    gateway = emulator(start_gateway, models=["gpt-5.4", "gpt-5.4-mini"])
    names = [m.id for m in sdk(gateway, make_key(gateway, mode="emulator")).models.list()]
    assert names == ["gpt-5.4", "gpt-5.4-mini"]


# --------------------------------------------------------------------------- tools and reasoning


def test_function_call_round_trip(gateway: GatewayServer, fake: FakeOllama) -> None:
    client = sdk(gateway, make_key(gateway, mode="emulator"))
    fake.queue(
        Reply(content="Let me check.", tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}]),
        Reply(content="Sunny in Oslo."),
    )
    with client.responses.stream(model="gpt-5.4", input="Weather in Oslo?", tools=[WEATHER_TOOL], store=False) as stream:
        first = stream.get_final_response()
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "get_weather" and orjson.loads(call.arguments) == {"city": "Oslo"}
    assert first.output_text == "Let me check."  # text beside the tool call is kept
    history = [item.model_dump(exclude_none=True) for item in first.output]
    second = client.responses.create(
        model="gpt-5.4",
        tools=[WEATHER_TOOL],
        store=False,
        input=[
            {"role": "user", "content": "Weather in Oslo?"},
            *history,
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"},
        ],
    )
    assert second.output_text == "Sunny in Oslo."
    messages = fake.chat_requests()[-1].json["messages"]
    assert messages[1]["role"] == "assistant" and messages[1]["content"] == "Let me check."
    assert messages[1]["tool_calls"][0]["function"]["arguments"] == {"city": "Oslo"}
    assert messages[2] == {"role": "tool", "content": "sunny, 21 C", "tool_name": "get_weather", "tool_call_id": call.call_id}


def test_custom_tool_call_round_trip(gateway: GatewayServer, fake: FakeOllama) -> None:
    client = sdk(gateway, make_key(gateway, mode="emulator"))
    fake.queue(Reply(tool_calls=[{"name": "apply_patch", "arguments": {"input": PATCH}}]), Reply(content="Patched."))
    with client.responses.stream(model="gpt-5.4", input="add hello.txt", tools=[APPLY_PATCH_TOOL], store=False) as stream:
        kinds = [event.type for event in stream]
        first = stream.get_final_response()
    assert "response.custom_tool_call_input.done" in kinds
    call = first.output[0]
    assert call.type == "custom_tool_call" and call.name == "apply_patch" and call.input == PATCH
    upstream_tool = fake.chat_requests()[-1].json["tools"][0]["function"]
    assert upstream_tool["name"] == "apply_patch" and "lark" in upstream_tool["parameters"]["properties"]["input"]["description"]
    client.responses.create(
        model="gpt-5.4",
        tools=[APPLY_PATCH_TOOL],
        store=False,
        input=[
            {"role": "user", "content": "add hello.txt"},
            call.model_dump(exclude_none=True),
            {"type": "custom_tool_call_output", "call_id": call.call_id, "output": "Success."},
        ],
    )
    messages = fake.chat_requests()[-1].json["messages"]
    assert messages[1]["tool_calls"][0]["function"] == {"index": 0, "name": "apply_patch", "arguments": {"input": PATCH}}
    assert messages[2]["tool_name"] == "apply_patch" and messages[2]["content"] == "Success."


def test_reasoning_is_replayed_from_encrypted_content(gateway: GatewayServer, fake: FakeOllama) -> None:
    client = sdk(gateway, make_key(gateway, mode="emulator"))
    fake.queue(Reply(thinking="The user wants a greeting.", content="Hello!"), Reply(content="Again."))
    first = client.responses.create(
        model="gpt-5.4", input="greet me", include=["reasoning.encrypted_content"], store=False
    )
    reasoning = first.output[0]
    assert reasoning.type == "reasoning" and reasoning.encrypted_content
    tampered = {**reasoning.model_dump(exclude_none=True), "encrypted_content": reasoning.encrypted_content[:-4] + "AAAA"}
    for item, expected in ((reasoning.model_dump(exclude_none=True), "The user wants a greeting."), (tampered, None)):
        fake.queue(Reply(content="Again."))
        client.responses.create(
            model="gpt-5.4",
            store=False,
            input=[{"role": "user", "content": "greet me"}, item, first.output[1].model_dump(exclude_none=True),
                   {"role": "user", "content": "again"}],
        )  # fmt: skip
        assistant = fake.chat_requests()[-1].json["messages"][1]
        assert assistant["content"] == "Hello!" and assistant.get("thinking") == expected


def test_sealed_reasoning_opens_only_for_the_user_it_was_sealed_for(gateway: GatewayServer, fake: FakeOllama) -> None:
    """Alice's sealed thinking, replayed by Bob, is ignored like any foreign token: the model gets no
    thinking for Bob, and still gets it for Alice."""
    alice = sdk(gateway, make_key(gateway, mode="emulator", username="alice"))
    bob = sdk(gateway, make_key(gateway, mode="emulator", username="bob"))
    fake.queue(Reply(thinking="Alice's private plan.", content="Hello!"))
    first = alice.responses.create(model="gpt-5.4", input="greet me", include=["reasoning.encrypted_content"], store=False)
    reasoning, answer = (item.model_dump(exclude_none=True) for item in first.output)
    assert reasoning["type"] == "reasoning" and reasoning["encrypted_content"]
    replay = [{"role": "user", "content": "greet me"}, reasoning, answer, {"role": "user", "content": "again"}]
    for client, expected in ((bob, None), (alice, "Alice's private plan.")):
        fake.queue(Reply(content="Again."))
        assert client.responses.create(model="gpt-5.4", store=False, input=replay).status == "completed"
        sent = fake.chat_requests()[-1].json["messages"]
        assert sent[1]["role"] == "assistant" and sent[1]["content"] == "Hello!"
        assert sent[1].get("thinking") == expected
        if expected is None:
            assert b"private plan" not in orjson.dumps(sent)


# --------------------------------------------------------------------------- endings


def test_length_stop_is_incomplete(gateway: GatewayServer, fake: FakeOllama) -> None:
    client = sdk(gateway, make_key(gateway, mode="emulator"))
    fake.queue(Reply(content="cut off here", done_reason="length"), Reply(content="cut off", done_reason="length"))
    with client.responses.stream(model="gpt-5.4", input="go", max_output_tokens=3, store=False) as stream:
        kinds = [event.type for event in stream]
    assert kinds[-1] == "response.incomplete"
    response = client.responses.create(model="gpt-5.4", input="go", max_output_tokens=3, store=False)
    assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"
    assert fake.chat_requests()[-1].json["options"]["num_predict"] == 3


def test_mid_stream_error_is_response_failed(gateway: GatewayServer, fake: FakeOllama) -> None:
    key = make_key(gateway, mode="emulator")
    fake.queue(Reply(content="partial answer", mid_stream_error="model runner crashed"))
    events = sse_events(gateway, key, {"model": "gpt-5.4", "input": "go", "store": False})
    last = events[-1][1]
    assert last["type"] == "response.failed"
    assert last["response"]["error"] == {"code": "server_error", "message": "model runner crashed"}
    assert all(event["sequence_number"] == i for i, (_, event) in enumerate(events))
    # The same through the SDK's strict stream reader.
    fake.queue(Reply(content="partial", truncate=True))
    with sdk(gateway, key).responses.stream(model="gpt-5.4", input="go", store=False) as stream:
        kinds = [event.type for event in stream]
    assert kinds[-1] == "response.failed"


class TwoUpstreams:
    """Two candidates for every request, both the fake: failover has somewhere to go."""

    def __init__(self, url: str) -> None:
        self.candidates = [Upstream("first", url), Upstream("second", url)]

    @hookimpl(tryfirst=True)
    def select_upstream(self, ctx: RequestContext) -> list[Upstream]:
        return self.candidates


def test_failover_before_the_first_output_item(start_gateway, fake: FakeOllama) -> None:
    gateway = start_gateway(extra_plugins={"two_upstreams": TwoUpstreams(fake.url)})
    key = make_key(gateway, mode="emulator")
    fake.queue(Reply(truncate=True), Reply(content="from the second"))
    events = sse_events(gateway, key, {"model": "gpt-5.4", "input": "go", "store": False})
    assert events[-1][1]["type"] == "response.completed"
    assert events[-1][1]["response"]["output"][0]["content"][0]["text"] == "from the second"
    assert len(fake.chat_requests()) == 2


# --------------------------------------------------------------------------- Codex specifics


def test_early_commit_and_heartbeats(start_gateway, fake: FakeOllama) -> None:
    gateway = emulator(start_gateway, heartbeat_seconds=0.4)
    key = make_key(gateway, mode="emulator")
    fake.queue(Reply(content="finally", first_token_delay=3))
    events = sse_events(gateway, key, {"model": "gpt-5.4", "input": "go", "store": False})
    first_at, first = events[0]
    assert first["type"] == "response.created" and first_at < 1.5
    before_output = [at for at, event in events if event["type"] == "response.in_progress"]
    assert len(before_output) >= 4  # the opening one at the commit (1 s), then one per 0.4 s of silence
    gaps = [b - a for a, b in zip(before_output, before_output[1:])]
    assert max(gaps) < 1.0
    assert events[-1][1]["type"] == "response.completed"


@pytest.mark.parametrize(
    ("reply", "status", "code"),
    [
        (Reply(status=400, error="prompt too long; exceeded max context length by 12 tokens"), 400, "context_length_exceeded"),
        (Reply(status=503), 503, "server_is_overloaded"),
        (Reply(status=429, error="timed out waiting for a concurrent request slot"), 429, "rate_limit_exceeded"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_errors_before_commit_are_statuses(
    gateway: GatewayServer, fake: FakeOllama, reply: Reply, status: int, code: str, stream: bool
) -> None:
    key = make_key(gateway, mode="emulator")
    fake.default_reply = reply
    try:
        response = httpx.post(
            gateway.url + "/v1/responses", json={"model": "gpt-5.4", "input": "go", "stream": stream},
            headers={"authorization": f"Bearer {key}"}, timeout=20,
        )  # fmt: skip
    finally:
        fake.default_reply = Reply(content="Hello from fake Ollama.")
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    if status == 429:
        assert 1 <= int(response.headers["retry-after"]) <= 5


def test_failure_after_commit_is_response_failed_with_code(start_gateway, fake: FakeOllama) -> None:
    gateway = emulator(start_gateway, commit_after_seconds=0.2, heartbeat_seconds=0.2)
    key = make_key(gateway, mode="emulator")
    fake.queue(Reply(status=503, first_token_delay=0.6))
    events = sse_events(gateway, key, {"model": "gpt-5.4", "input": "go", "store": False})
    assert types(events)[:2] == ["response.created", "response.in_progress"]
    assert events[-1][1]["type"] == "response.failed"
    assert events[-1][1]["response"]["error"]["code"] == "server_is_overloaded"


# --------------------------------------------------------------------------- request checks


def test_wrong_key_mode_is_403(gateway: GatewayServer, fake: FakeOllama) -> None:
    with pytest.raises(openai.PermissionDeniedError) as caught:
        sdk(gateway, make_key(gateway, mode="bypass")).responses.create(model="gpt-5.4", input="hi")
    assert caught.value.body["code"] == "wrong_key_mode"
    chat = httpx.post(
        gateway.url + "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {make_key(gateway, mode='emulator')}"},
    )  # fmt: skip
    assert chat.status_code == 403


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": 5}, "input"),
        ({"input": "hi", "temperature": "hot"}, "temperature"),
        ({"input": [{"type": "message", "role": "user", "content": 3}]}, "input[0].content"),
        ({"input": "hi", "tools": {"type": "function"}}, "tools"),
        ({"input": "hi", "model": 4}, "model"),
    ],
)
def test_wrong_field_types_are_400_naming_the_field(gateway: GatewayServer, body: dict[str, Any], param: str) -> None:
    response = httpx.post(
        gateway.url + "/v1/responses", json={"model": "gpt-5.4", **body},
        headers={"authorization": f"Bearer {make_key(gateway, mode='emulator')}"},
    )  # fmt: skip
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param and f"'{param}'" in error["message"]


def test_unknown_tool_types_and_fields_are_accepted(gateway: GatewayServer, fake: FakeOllama) -> None:
    response = httpx.post(
        gateway.url + "/v1/responses",
        json={"model": "gpt-5.4", "input": "hi", "store": False, "tools": [{"type": "web_search"}, {"type": "tool_search"},
              {"type": "brand_new_tool"}, WEATHER_TOOL], "client_metadata": {"a": "b"}, "some_future_field": 1},
        headers={"authorization": f"Bearer {make_key(gateway, mode='emulator')}"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert [t["function"]["name"] for t in fake.chat_requests()[-1].json["tools"]] == ["get_weather"]


# --------------------------------------------------------------------------- stored responses


def test_stored_responses(start_gateway, database_url: str, fake: FakeOllama) -> None:
    gateway = emulator(start_gateway, database_url)
    client = sdk(gateway, make_key(gateway, mode="emulator"))
    fake.queue(Reply(content="I am Ada."), Reply(content="You asked my name."))
    with client.responses.stream(model="gpt-5.4", instructions="Be terse.", input="Who are you?", store=True) as stream:
        first = stream.get_final_response()
    # Readable at once, for its owner only.
    assert client.responses.retrieve(first.id).output_text == "I am Ada."
    second = client.responses.create(model="gpt-5.4", input="What did I ask?", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    assert fake.chat_requests()[-1].json["messages"] == [
        {"role": "user", "content": "Who are you?"},  # instructions are not carried over
        {"role": "assistant", "content": "I am Ada."},
        {"role": "user", "content": "What did I ask?"},
    ]
    other = sdk(gateway, make_key(gateway, mode="emulator", username="mallory"))
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(first.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.delete(first.id)
    with pytest.raises(openai.BadRequestError) as caught:
        other.responses.create(model="gpt-5.4", input="x", previous_response_id=first.id)
    assert caught.value.body["code"] == "previous_response_not_found"

    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
    unstored = client.responses.create(model="gpt-5.4", input="x", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)


def test_stored_codex_turn_round_trips(start_gateway, database_url: str, fake: FakeOllama) -> None:
    """A streamed Codex turn with store: true (ten tools, developer prompts, input items with ids; the
    stream keeps them serialized until it ends): GET returns the Response the stream completed with,
    a continuation sends the upstream the same conversation, and its input items resolve by id."""
    # A Codex turn is about 9,000 tokens: a window that fits it, as a deployment for Codex sets.
    gateway = start_gateway(database_url=database_url, env={"LLMGATE_UPSTREAM_NUM_CTX": "32768"})
    key = make_key(gateway, mode="emulator")
    headers = {"authorization": f"Bearer {key}"}
    body = orjson.loads((CODEX_REQUESTS / "codex_fc_turn1_catalog_gpt54.json").read_bytes())["body"]
    body["store"] = True
    fake.queue(Reply(content="Listing files."), Reply(content="Again."), Reply(content="Quoted."))

    completed = sse_events(gateway, key, body)[-1][1]
    assert completed["type"] == "response.completed"
    response = completed["response"]
    assert response["tools"] == body["tools"] and response["store"] is True
    stored_response = httpx.get(f"{gateway.url}/v1/responses/{response['id']}", headers=headers, timeout=20)
    assert stored_response.status_code == 200 and stored_response.json() == response

    first = fake.chat_requests()[-1].json["messages"]
    sse_events(gateway, key, {"model": "gpt-5.4", "input": "again", "previous_response_id": response["id"]})
    assert fake.chat_requests()[-1].json["messages"] == [
        *first,
        {"role": "assistant", "content": "Listing files."},
        {"role": "user", "content": "again"},
    ]

    last_input = body["input"][-1]
    sse_events(gateway, key, {"model": "gpt-5.4", "input": [{"type": "item_reference", "id": last_input["id"]}]})
    assert fake.chat_requests()[-1].json["messages"] == [
        {"role": "user", "content": last_input["content"][0]["text"]}
    ]


def test_expired_responses_are_purged(start_gateway, fake: FakeOllama) -> None:
    from plugins.emulator import stored
    from plugins.emulator.models import StoredResponse

    gateway = emulator(start_gateway, store_retention_hours=0.01)
    client = sdk(gateway, make_key(gateway, mode="emulator"))
    kept = client.responses.create(model="gpt-5.4", input="x", store=True)

    async def expire_and_purge() -> tuple[int, int]:
        await StoredResponse.filter(id=kept.id).update(expires_at=datetime(2000, 1, 1, tzinfo=UTC))
        return await stored.purge_expired(), await StoredResponse.all().count()

    assert gateway.run(expire_and_purge()) == (1, 0)


# --------------------------------------------------------------------------- Connect Codex


def test_codex_config_and_catalog(gateway: GatewayServer, fake: FakeOllama) -> None:
    import tomllib

    config = tomllib.loads(httpx.get(gateway.url + "/v1/codex/config.toml").text)
    provider = config["model_providers"][config["model_provider"]]
    assert provider["base_url"] == gateway.url + "/v1"
    assert provider["env_key"] == "LLMGATE_API_KEY" and provider["wire_api"] == "responses"
    assert config["model"] == "gpt-5.4"
    catalog = httpx.get(gateway.url + "/v1/codex/catalog.json").json()
    (entry,) = catalog["models"]
    assert entry["slug"] == "gpt-5.4" and entry["apply_patch_tool_type"] == "freeform"
    assert entry["context_window"] == 131_072  # llama3.2 (the default model) as the fake's /api/show says
    key = make_key(gateway, mode="emulator", model="qwen3:8b")
    personal = httpx.get(gateway.url + "/v1/codex/catalog.json", headers={"authorization": f"Bearer {key}"}).json()
    assert personal["models"][0]["context_window"] == 40_960
