"""`item_reference` input items through a real gateway: stored items resolve in place for their owner,
and what the fake Ollama receives is the conversation as if the client had sent the full items."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import openai
import pytest

from plugins.emulator import stored
from plugins.emulator.models import StoredItem, StoredResponse
from tests.fake_ollama import FakeOllama, Reply
from tests.plugins.emulator.test_emulator_sdk import APPLY_PATCH_TOOL, PATCH, WEATHER_TOOL, emulator, sdk
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer


def post(gateway: GatewayServer, key: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/responses", json={"model": "gpt-5.4", **body},
                      headers={"authorization": f"Bearer {key}"}, timeout=20)  # fmt: skip


def ref(item_id: str) -> dict[str, str]:
    return {"type": "item_reference", "id": item_id}


def test_references_to_output_items_resolve_in_place(
    start_gateway, database_url: str, fake: FakeOllama
) -> None:
    gateway = emulator(start_gateway, database_url)
    client = sdk(gateway, make_key(gateway, mode="emulator"))
    fake.queue(
        Reply(thinking="Need the weather tool.", content="Let me check.",
              tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}]),
        Reply(content="Sunny in Oslo."),
        Reply(tool_calls=[{"name": "apply_patch", "arguments": {"input": PATCH}}]),
        Reply(content="Patched."),
    )  # fmt: skip
    with client.responses.stream(model="gpt-5.4", input="Weather in Oslo?", tools=[WEATHER_TOOL]) as stream:
        first = stream.get_final_response()  # store absent: stored, as at OpenAI
    reasoning, message, call = first.output
    assert (reasoning.type, message.type, call.type) == ("reasoning", "message", "function_call")
    assert reasoning.id.startswith("rs_") and message.id.startswith("msg_") and call.id.startswith("fc_")

    # What the Vercel AI SDK sends on the next step: the turn's items by reference.
    second = client.responses.create(model="gpt-5.4", tools=[WEATHER_TOOL], input=[
        {"role": "user", "content": "Weather in Oslo?"},
        ref(reasoning.id), ref(message.id), {"id": call.id},
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"},
    ])  # fmt: skip
    assert second.output_text == "Sunny in Oslo."
    assert fake.chat_requests()[-1].json["messages"] == [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "Let me check.", "thinking": "Need the weather tool.",
         "tool_calls": [{"id": call.call_id, "function": {"index": 0, "name": "get_weather",
                                                          "arguments": {"city": "Oslo"}}}]},
        {"role": "tool", "content": "sunny, 21 C", "tool_name": "get_weather", "tool_call_id": call.call_id},
    ]  # fmt: skip

    # A custom tool call, and the previous answer, referenced later in a longer conversation.
    patch_turn = client.responses.create(model="gpt-5.4", input="add hello.txt", tools=[APPLY_PATCH_TOOL])
    custom = patch_turn.output[0]
    assert custom.type == "custom_tool_call" and custom.id.startswith("ctc_")
    client.responses.create(model="gpt-5.4", tools=[APPLY_PATCH_TOOL], input=[
        {"role": "user", "content": "Weather in Oslo?"}, ref(second.output[0].id),
        {"role": "user", "content": "add hello.txt"}, ref(custom.id),
        {"type": "custom_tool_call_output", "call_id": custom.call_id, "output": "Success."},
    ])  # fmt: skip
    assert fake.chat_requests()[-1].json["messages"] == [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "Sunny in Oslo."},
        {"role": "user", "content": "add hello.txt"},
        {"role": "assistant", "content": "",
         "tool_calls": [{"id": custom.call_id, "function": {"index": 0, "name": "apply_patch",
                                                            "arguments": {"input": PATCH}}}]},
        {"role": "tool", "content": "Success.", "tool_name": "apply_patch", "tool_call_id": custom.call_id},
    ]  # fmt: skip


def test_input_items_with_ids_are_stored_and_resolve(gateway: GatewayServer, fake: FakeOllama) -> None:
    key = make_key(gateway, mode="emulator")
    own_call = {"type": "function_call", "id": "fc_client_1", "call_id": "call_9", "name": "get_weather",
                "arguments": '{"city": "Rome"}'}  # fmt: skip
    own_message = {"type": "message", "id": "msg_client_1", "role": "user", "content": "Weather in Rome?"}
    first = post(gateway, key, {"tools": [WEATHER_TOOL], "input": [
        own_message, own_call, {"type": "function_call_output", "call_id": "call_9", "output": "rain"},
    ]})  # fmt: skip
    assert first.status_code == 200, first.text
    second = post(gateway, key, {"tools": [WEATHER_TOOL], "store": False, "input": [
        ref("msg_client_1"), ref("fc_client_1"),
        {"type": "function_call_output", "call_id": "call_9", "output": "rain"},
    ]})  # fmt: skip
    assert second.status_code == 200, second.text
    assert fake.chat_requests()[-1].json["messages"] == fake.chat_requests()[-2].json["messages"]
    assert fake.chat_requests()[-1].json["messages"][1]["tool_calls"][0]["function"]["arguments"] == {
        "city": "Rome"
    }


def test_store_false_keeps_no_items(gateway: GatewayServer, fake: FakeOllama) -> None:
    key = make_key(gateway, mode="emulator")
    message = {"type": "message", "id": "msg_x", "role": "user", "content": "hi"}
    unstored = post(gateway, key, {"store": False, "input": [message]}).json()
    assert gateway.run(StoredItem.all().count()) == 0
    refused = post(gateway, key, {"input": [ref(unstored["output"][0]["id"])]})
    assert refused.status_code == 400
    assert post(gateway, key, {"input": [ref("msg_x")]}).status_code == 400


def test_unknown_and_foreign_ids_get_the_same_400(start_gateway, database_url: str, fake: FakeOllama) -> None:
    gateway = emulator(start_gateway, database_url)
    alice, mallory = (
        make_key(gateway, mode="emulator"),
        make_key(gateway, mode="emulator", username="mallory"),
    )
    fake.queue(Reply(content="Alice's secret plan."))
    kept = post(gateway, alice, {"input": "plan"}).json()
    item_id = kept["output"][0]["id"]
    calls_before = len(fake.chat_requests())

    foreign = post(gateway, mallory, {"input": [{"role": "user", "content": "hi"}, ref(item_id)]})
    missing_id = "msg_" + "0" * 32
    missing = post(gateway, mallory, {"input": [{"role": "user", "content": "hi"}, ref(missing_id)]})
    assert foreign.status_code == missing.status_code == 400
    error = foreign.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "input[1]"
    assert f"'{item_id}'" in error["message"]
    assert missing.json()["error"] == {**error, "message": error["message"].replace(item_id, missing_id)}
    too_long = post(gateway, mallory, {"input": [ref("x" * 500)]})
    assert too_long.status_code == 400 and too_long.json()["error"]["param"] == "input[0]"
    assert len(fake.chat_requests()) == calls_before  # nothing reached the model

    # Deleting the response removes its items: the owner's reference fails the same way.
    sdk(gateway, alice).responses.delete(kept["id"])
    gone = post(gateway, alice, {"input": [ref(item_id)]})
    assert gone.status_code == 400 and f"'{item_id}'" in gone.json()["error"]["message"]
    assert gateway.run(StoredItem.all().count()) == 0


def test_references_resolve_with_previous_response_id_and_instructions(
    gateway: GatewayServer, fake: FakeOllama
) -> None:
    client = sdk(gateway, make_key(gateway, mode="emulator"))
    fake.queue(Reply(content="One."), Reply(content="Two."))
    first = client.responses.create(model="gpt-5.4", input="count")
    client.responses.create(
        model="gpt-5.4",
        instructions="Be terse.",
        previous_response_id=first.id,
        input=[{"role": "user", "content": "repeat"}, ref(first.output[0].id)],
    )
    assert fake.chat_requests()[-1].json["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "count"},
        {"role": "assistant", "content": "One."},
        {"role": "user", "content": "repeat"},
        {"role": "assistant", "content": "One."},
    ]


def test_expired_items_do_not_resolve_and_are_purged(gateway: GatewayServer, fake: FakeOllama) -> None:
    key = make_key(gateway, mode="emulator")
    kept = post(gateway, key, {"input": "x"}).json()

    async def expire() -> None:
        past = datetime(2000, 1, 1, tzinfo=UTC)
        await StoredResponse.filter(id=kept["id"]).update(expires_at=past)
        await StoredItem.filter(response_id=kept["id"]).update(expires_at=past)

    gateway.run(expire())
    assert post(gateway, key, {"input": [ref(kept["output"][0]["id"])]}).status_code == 400
    assert gateway.run(stored.purge_expired()) == 1
    assert gateway.run(StoredItem.all().count()) == 0


@pytest.mark.parametrize("kind", ["input_audio", "input_file"])
def test_unreadable_parts_are_400_before_the_model_is_called(
    gateway: GatewayServer, fake: FakeOllama, kind: str
) -> None:
    part = {"type": kind, "input_audio": {"data": "AAAA", "format": "wav"}} if kind == "input_audio" else {
        "type": kind, "file_id": "file-1"}  # fmt: skip
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gateway, make_key(gateway, mode="emulator")).responses.create(
            model="gpt-5.4", input=[{"role": "user", "content": [part]}]
        )
    assert caught.value.body["param"].startswith("input[0].content[0]")
    assert fake.chat_requests() == []


def test_references_past_one_statement_resolve(
    start_gateway, database_url: str, fake: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More ids than one lookup statement may carry (bind-parameter limits) resolve in batches, in order."""
    monkeypatch.setattr(stored, "BATCH", 7)
    gateway = emulator(start_gateway, database_url)
    key = make_key(gateway, mode="emulator")
    count = 50
    history = [
        {"type": "message", "id": f"msg_h{i}", "role": "user", "content": f"m{i}"} for i in range(count)
    ]
    assert post(gateway, key, {"input": history}).status_code == 200
    assert gateway.run(StoredItem.all().count()) == count + 1  # and the answer
    resolved = post(gateway, key, {"store": False, "input": [ref(f"msg_h{i}") for i in range(count)]})
    assert resolved.status_code == 200, resolved.text
    assert fake.chat_requests()[-1].json["messages"] == [
        {"role": "user", "content": f"m{i}"} for i in range(count)
    ]
