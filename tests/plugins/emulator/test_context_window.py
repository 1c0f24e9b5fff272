"""The context window Codex is told is the one the model gets: upstream.num_ctx reaches Ollama on every
native chat to the shared upstream, the catalog advertises no more than the model runs with, and a
prompt that clearly cannot fit is refused with context_length_exceeded instead of being cut by Ollama."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson
import pytest

from tests.fake_ollama import SESSION_LIMIT, FakeOllama, KeyBehaviour, Reply
from tests.plugins.ollama_keys.conftest import add_keys, bearers
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer

NUM_CTX = "LLMGATE_UPSTREAM_NUM_CTX"
CLOUD_KEY = "emu-cloud-key-1111"
# 60 KB of text: about 15,000 tokens, far beyond a 4,096-token window.
OVERSIZED = "lorem ipsum dolor sit amet " * 2300


def post(gateway: GatewayServer, key: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        gateway.url + "/v1/responses", json={"model": "gpt-5.4", **body},
        headers={"authorization": f"Bearer {key}"}, timeout=30,
    )  # fmt: skip


def sse(gateway: GatewayServer, key: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    headers = {"authorization": f"Bearer {key}"}
    events = []
    body = {"model": "gpt-5.4", **body, "stream": True}
    url = gateway.url + "/v1/responses"
    with httpx.stream("POST", url, json=body, headers=headers, timeout=30) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(orjson.loads(line[6:]))
    return events


def catalog_window(gateway: GatewayServer, key: str | None = None) -> int:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    (entry,) = httpx.get(gateway.url + "/v1/codex/catalog.json", headers=headers, timeout=30).json()["models"]
    return entry["context_window"]


# --------------------------------------------------------------------------- num_ctx on the wire


@pytest.mark.parametrize("stream", [False, True])
def test_num_ctx_reaches_every_native_chat(start_gateway, fake: FakeOllama, stream: bool) -> None:
    gateway = start_gateway(env={NUM_CTX: "65536"})
    key = make_key(gateway, mode="emulator")
    body = {"input": "hi", "max_output_tokens": 300, "temperature": 0.2}
    if stream:
        assert sse(gateway, key, body)[-1]["type"] == "response.completed"
    else:
        assert post(gateway, key, body).status_code == 200
    (sent,) = fake.chat_requests()
    assert sent.path == "/api/chat"
    # The setting joins the request's own options; it does not replace them.
    assert sent.json["options"] == {"num_ctx": 65536, "num_predict": 300, "temperature": 0.2}
    assert sent.json["truncate"] is False  # Ollama >= 0.12.6 refuses an oversized prompt, does not cut it


def test_without_the_setting_the_server_keeps_its_default(gateway: GatewayServer, fake: FakeOllama) -> None:
    key = make_key(gateway, mode="emulator")
    assert post(gateway, key, {"input": "hi", "max_output_tokens": 300}).status_code == 200
    assert sse(gateway, key, {"input": "hi"})[-1]["type"] == "response.completed"
    first, second = fake.chat_requests()
    assert first.json["options"] == {"num_predict": 300}
    assert "options" not in second.json
    assert b"num_ctx" not in first.body + second.body


@pytest.mark.parametrize("stream", [False, True])
def test_a_users_own_cloud_key_runs_at_full_context(start_gateway, fake: FakeOllama, stream: bool) -> None:
    gateway = start_gateway(env={NUM_CTX: "65536", "LLMGATE_OLLAMA_CLOUD_URL": fake.url})
    user = add_keys(gateway, [CLOUD_KEY], mode="emulator")
    body = {"input": "hi", "max_output_tokens": 300}
    if stream:
        assert sse(gateway, user.api_key, body)[-1]["type"] == "response.completed"
    else:
        assert post(gateway, user.api_key, body).status_code == 200
    assert bearers(fake) == [CLOUD_KEY]
    assert fake.chat_requests()[0].json["options"] == {"num_predict": 300}


def test_the_shared_fallback_behind_a_cloud_key_gets_num_ctx(start_gateway, fake: FakeOllama) -> None:
    gateway = start_gateway(
        env={NUM_CTX: "65536", "LLMGATE_OLLAMA_CLOUD_URL": fake.url},
        overrides={"plugins": {"ollama_keys": {"shared_fallback": True}}},
    )
    user = add_keys(gateway, [CLOUD_KEY], mode="emulator")
    fake.keys[CLOUD_KEY] = KeyBehaviour(reply=Reply(status=429, error=SESSION_LIMIT))
    assert post(gateway, user.api_key, {"input": "hi"}).status_code == 200
    assert bearers(fake) == [CLOUD_KEY, None]
    cloud, shared = fake.chat_requests()
    assert "options" not in cloud.json
    assert shared.json["options"] == {"num_ctx": 65536}


def test_bypass_passthrough_is_left_alone(start_gateway, fake: FakeOllama) -> None:
    gateway = start_gateway(env={NUM_CTX: "65536"})
    key = make_key(gateway, mode="bypass")
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"authorization": f"Bearer {key}"}
    response = httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=headers, timeout=30)
    assert response.status_code == 200
    (sent,) = fake.chat_requests()
    assert sent.path == "/v1/chat/completions"
    assert sent.json == body


# --------------------------------------------------------------------------- the advertised window


def test_catalog_advertises_num_ctx_capped_by_the_models_own(start_gateway, fake: FakeOllama) -> None:
    gateway = start_gateway(env={NUM_CTX: "65536"})
    assert catalog_window(gateway) == 65_536  # llama3.2 could take 131,072
    qwen = make_key(gateway, mode="emulator", model="qwen3:8b")
    assert catalog_window(gateway, qwen) == 40_960  # qwen3:8b itself stops at 40,960


def test_catalog_reports_the_loaded_context_when_num_ctx_is_unset(start_gateway, fake: FakeOllama) -> None:
    fake.loaded["llama3.2"] = 8192  # loaded by someone else at 8k
    gateway = start_gateway()
    assert catalog_window(gateway) == 8192
    assert any(r.path == "/api/ps" for r in fake.requests)


def test_without_num_ctx_a_chat_loads_the_model_at_the_default(start_gateway, fake: FakeOllama) -> None:
    # (``fake`` resets the fake Ollama: no model loaded yet)
    gateway = start_gateway(env={"LLMGATE_MODELS_CACHE_SECONDS": "0"})  # /api/ps asked every time
    assert catalog_window(gateway) == 131_072  # not loaded: the model's own context is all that is known
    key = make_key(gateway, mode="emulator")
    assert post(gateway, key, {"input": "hi"}).status_code == 200
    assert catalog_window(gateway) == 4096  # what the fake, like a small-VRAM Ollama, loaded it at


def test_a_cloud_key_is_not_asked_for_loaded_models(start_gateway, fake: FakeOllama) -> None:
    fake.loaded["llama3.2"] = 8192
    gateway = start_gateway(env={"LLMGATE_OLLAMA_CLOUD_URL": fake.url})
    user = add_keys(gateway, [CLOUD_KEY], mode="emulator")
    assert catalog_window(gateway, user.api_key) == 131_072  # Ollama Cloud runs the model at full context
    assert not any(r.path == "/api/ps" and r.bearer == CLOUD_KEY for r in fake.requests)


# --------------------------------------------------------------------------- refusing what cannot fit


@pytest.mark.parametrize("stream", [False, True])
def test_oversized_prompt_is_context_length_exceeded(start_gateway, fake: FakeOllama, stream: bool) -> None:
    gateway = start_gateway(env={NUM_CTX: "4096"})
    key = make_key(gateway, mode="emulator")
    # A stream is refused before its status is committed: a plain 400, as without streaming.
    response = post(gateway, key, {"input": OVERSIZED, "stream": stream})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded" and error["type"] == "invalid_request_error"
    assert "4,096-token context window" in error["message"] and "upstream.num_ctx" in error["message"]
    assert fake.chat_requests() == []  # nothing was sent to be cut silently


def test_prompts_within_the_margin_go_to_the_model(start_gateway, fake: FakeOllama) -> None:
    gateway = start_gateway(env={NUM_CTX: "4096"})
    key = make_key(gateway, mode="emulator")
    fits = "lorem ipsum dolor sit amet " * 450  # 12 KB: about 3,000 tokens
    borderline = "lorem ipsum dolor sit amet " * 800  # 21 KB: maybe more than 4,096 tokens, not clearly
    assert post(gateway, key, {"input": fits}).status_code == 200
    assert post(gateway, key, {"input": borderline}).status_code == 200
    # Ollama itself decides the borderline case exactly: truncate false makes it refuse, not cut.
    assert [r.json["truncate"] for r in fake.chat_requests()] == [False, False]


def test_images_do_not_count_as_text(start_gateway, fake: FakeOllama) -> None:
    gateway = start_gateway(env={NUM_CTX: "4096"})
    key = make_key(gateway, mode="emulator")
    picture = base64.b64encode(bytes(range(256)) * 400).decode()  # 136 KB of base64
    content = [
        {"type": "input_text", "text": "what is this?"},
        {"type": "input_image", "image_url": f"data:image/png;base64,{picture}"},
    ]
    response = post(gateway, key, {"input": [{"role": "user", "content": content}]})
    assert response.status_code == 200, response.text
    assert fake.chat_requests()[0].json["messages"][0]["images"] == [picture]


def test_unknown_window_refuses_nothing(gateway: GatewayServer, fake: FakeOllama) -> None:
    key = make_key(gateway, mode="emulator")
    # No num_ctx and nothing cached yet for this model: the gateway cannot know, so it does not refuse.
    assert post(gateway, key, {"input": OVERSIZED}).status_code == 200
    assert len(fake.chat_requests()) == 1


def test_without_num_ctx_the_loaded_window_is_enforced(start_gateway, fake: FakeOllama) -> None:
    gateway = start_gateway()
    key = make_key(gateway, mode="emulator")
    assert post(gateway, key, {"input": OVERSIZED}).status_code == 200  # nothing known yet: sent
    # That chat loaded the model at the fake's 4k default; any lookup (here the catalog's) learns it,
    # and later requests use what was learned without asking again.
    assert catalog_window(gateway) == 4096
    lookups = len(fake.requests)
    response = post(gateway, key, {"input": OVERSIZED})
    assert response.status_code == 400 and response.json()["error"]["code"] == "context_length_exceeded"
    assert "upstream.num_ctx" not in response.json()["error"]["message"]  # not set here
    assert len(fake.chat_requests()) == 1
    assert [r.path for r in fake.requests[lookups:]] == []  # the refusal cost no round trip


def test_refusal_after_the_commit_is_response_failed(start_gateway, fake: FakeOllama) -> None:
    gateway = start_gateway(
        env={NUM_CTX: "4096", "LLMGATE_OLLAMA_CLOUD_URL": fake.url},
        overrides={
            "plugins": {"ollama_keys": {"shared_fallback": True}, "emulator": {"commit_after_seconds": 0.05}}
        },
    )
    user = add_keys(gateway, [CLOUD_KEY], mode="emulator")
    # The user's key fails only after the stream is committed; the shared fallback's 4k cannot take it.
    fake.keys[CLOUD_KEY] = KeyBehaviour(reply=Reply(status=429, error=SESSION_LIMIT, first_token_delay=0.6))
    events = sse(gateway, user.api_key, {"input": OVERSIZED})
    assert events[0]["type"] == "response.created"
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"]["code"] == "context_length_exceeded"
    assert bearers(fake) == [CLOUD_KEY]  # the shared upstream never saw it


@pytest.mark.parametrize(
    "ollama_says",
    [
        "the input length exceeds the context length",  # Ollama >= 0.12.6 with truncate: false
        "the request exceeds the available context size, try increasing it",  # llama-server based builds
    ],
)
def test_ollamas_own_refusal_is_context_length_exceeded(
    gateway: GatewayServer, fake: FakeOllama, ollama_says: str
) -> None:
    key = make_key(gateway, mode="emulator")
    fake.queue(Reply(status=400, error=ollama_says))
    response = post(gateway, key, {"input": "hi"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"
    fake.queue(Reply(mid_stream_error=ollama_says))  # an error line instead of the first chunk
    events = sse(gateway, key, {"input": "hi"})
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"]["code"] == "context_length_exceeded"
