"""Authentication, mode rules and bad input: always the OpenAI error shape, never a 500 or HTML."""

from __future__ import annotations

import time

import httpx
import pytest

from proxy.accounts import revoke_api_key
from proxy.pipeline import mode_key
from proxy.security import hash_api_key
from proxy.storage.models import ApiKey, User
from tests.fake_ollama import FakeOllama
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer

CHAT = "/v1/chat/completions"
MESSAGES = {"messages": [{"role": "user", "content": "hi"}]}


def assert_openai_error(response: httpx.Response, status: int, type_: str, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code", "param"} and error["message"]
    assert error["type"] == type_
    if code is not None:
        assert error["code"] == code
    return error


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer sk-not-a-key"}, {"authorization": "Basic c2stZm9v"}, {"authorization": "Bearer"}],
)
def test_missing_or_unknown_key_is_401(gateway: GatewayServer, headers: dict[str, str]) -> None:
    response = httpx.post(gateway.url + CHAT, json=MESSAGES, headers=headers)
    error = assert_openai_error(response, 401, "authentication_error", "invalid_api_key")
    assert error["param"] is None


def test_revoked_key_stops_within_the_cache_bound(start_gateway, fake: FakeOllama) -> None:
    gateway = start_gateway(env={"LLMGATE_AUTH_CACHE_SECONDS": "0.5"})
    key = make_key(gateway)
    headers = {"authorization": f"Bearer {key}"}
    assert httpx.post(gateway.url + CHAT, json=MESSAGES, headers=headers).status_code == 200

    async def revoke() -> None:
        await revoke_api_key(await ApiKey.get(key_hash=hash_api_key(key)))

    gateway.run(revoke())
    time.sleep(0.6)
    assert_openai_error(httpx.post(gateway.url + CHAT, json=MESSAGES, headers=headers), 401, "authentication_error")


def test_known_key_needs_no_database_round_trip(gateway: GatewayServer, fake: FakeOllama) -> None:
    key = make_key(gateway)
    headers = {"authorization": f"Bearer {key}"}
    assert httpx.post(gateway.url + CHAT, json=MESSAGES, headers=headers).status_code == 200

    # Change the stored hash behind the cache: a lookup would no longer find the key.
    gateway.run(ApiKey.filter(key_hash=hash_api_key(key)).update(key_hash="0" * 64))
    # Within the cache TTL the key still works: no lookup happened.
    assert httpx.post(gateway.url + CHAT, json=MESSAGES, headers=headers).status_code == 200


def test_disabled_user_is_refused_after_cache_invalidation(gateway: GatewayServer) -> None:
    key = make_key(gateway, username="mallory")
    gateway.run(User.filter(username="mallory").update(disabled=True))
    gateway.state.invalidate_auth()
    response = httpx.post(gateway.url + CHAT, json=MESSAGES, headers={"authorization": f"Bearer {key}"})
    assert_openai_error(response, 401, "authentication_error")


def test_last_used_is_recorded_off_the_request_path(gateway: GatewayServer) -> None:
    key = make_key(gateway)
    httpx.post(gateway.url + CHAT, json=MESSAGES, headers={"authorization": f"Bearer {key}"})
    assert gateway.run(ApiKey.get(key_hash=hash_api_key(key))).last_used_at is None  # not written inline
    gateway.run(gateway.state.services["api_key_auth"].flush())
    assert gateway.run(ApiKey.get(key_hash=hash_api_key(key))).last_used_at is not None


def test_wrong_mode_is_403_naming_the_right_endpoint(gateway: GatewayServer) -> None:
    modes = gateway.state.runner.modes
    if "emulator" not in modes:
        pytest.skip("the emulator mode is not enabled in this build")
    bypass_key = make_key(gateway, mode="bypass")
    response = httpx.post(gateway.url + "/v1/responses", json={"input": "hi"}, headers={"authorization": f"Bearer {bypass_key}"})
    error = assert_openai_error(response, 403, "permission_error", "wrong_key_mode")
    assert "POST /v1/chat/completions" in error["message"]
    assert error["message"].startswith("This API key is a bypass key, which serves")
    emulator_key = make_key(gateway, mode="emulator")
    response = httpx.post(gateway.url + CHAT, json=MESSAGES, headers={"authorization": f"Bearer {emulator_key}"})
    error = assert_openai_error(response, 403, "permission_error", "wrong_key_mode")
    assert "POST /v1/responses" in error["message"]
    assert error["message"].startswith("This API key is an emulator key, which serves")
    stored = httpx.get(gateway.url + "/v1/responses/resp_x", headers={"authorization": f"Bearer {bypass_key}"})
    assert assert_openai_error(stored, 403, "permission_error", "wrong_key_mode")["message"].startswith(
        "This API key is a bypass key; stored responses"
    )


@pytest.mark.parametrize(
    ("mode", "phrase"),
    [("emulator", "an emulator key"), ("bypass", "a bypass key"), ("echo", "an echo key"),
     ("ollama", "an ollama key"), ("unified", "a unified key"), ("hourly", "an hourly key")],
)  # fmt: skip
def test_mode_key_takes_the_right_article(mode: str, phrase: str) -> None:
    assert mode_key(mode) == phrase


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"{}", "'messages' is required"),
        (b'{"messages": "hi"}', "'messages' must be a non-empty list"),
        (b'{"messages": [42]}', "messages[0] must be an object"),
        (b'{"messages": [{"content": "x"}]}', "messages[0].role is required"),
        (b'{"messages": [{"role": "user"}], "model": 5}', "'model' must be a string"),
        (b'{"messages": [{"role": "user"}], "stream": "yes"}', "'stream' must be true or false"),
        (b"[" * 5000 + b"]" * 5000, "not valid JSON"),
    ],
)
def test_bad_input_is_400_saying_what_is_wrong(gateway: GatewayServer, fake: FakeOllama, content: bytes, message: str) -> None:
    response = httpx.post(gateway.url + CHAT, content=content, headers={"authorization": f"Bearer {make_key(gateway)}"})
    error = assert_openai_error(response, 400, "invalid_request_error")
    assert message in error["message"]
    assert fake.chat_requests() == []  # nothing reached the upstream


def test_oversized_body_is_413(start_gateway) -> None:
    gateway = start_gateway(env={"LLMGATE_MAX_BODY_BYTES": "2000"})
    body = {"messages": [{"role": "user", "content": "x" * 5000}]}
    response = httpx.post(gateway.url + CHAT, json=body, headers={"authorization": f"Bearer {make_key(gateway)}"})
    error = assert_openai_error(response, 413, "invalid_request_error", "payload_too_large")
    assert "2000 bytes" in error["message"]


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/nothing"), ("POST", "/v1/chat/nope"), ("DELETE", "/v1/x/y/z")])
def test_unknown_api_path_is_404(gateway: GatewayServer, method: str, path: str) -> None:
    response = httpx.request(method, gateway.url + path)
    assert_openai_error(response, 404, "not_found_error", "unknown_url")


def test_wrong_method_is_405_in_openai_shape(gateway: GatewayServer) -> None:
    response = httpx.get(gateway.url + CHAT)
    assert response.status_code in (404, 405)
    assert "error" in response.json()


def test_models_lists_the_upstream_tags(gateway: GatewayServer, fake: FakeOllama) -> None:
    key = make_key(gateway)
    response = httpx.get(gateway.url + "/v1/models", headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert {m["id"] for m in body["data"]} >= {"qwen3:8b", "gpt-oss:120b"}
    assert all(m["object"] == "model" and m["owned_by"] == "ollama" for m in body["data"])
    tag_calls = len([r for r in fake.requests if r.path == "/api/tags"])
    httpx.get(gateway.url + "/v1/models", headers={"authorization": f"Bearer {key}"})
    assert len([r for r in fake.requests if r.path == "/api/tags"]) == tag_calls  # cached


def test_healthz(gateway: GatewayServer) -> None:
    response = httpx.get(gateway.url + "/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_api_error_takes_status_message_and_code_in_that_order() -> None:
    """The plugin API's spelling: ``APIError(status, message, code=None)`` is an OpenAI-shaped error."""
    from proxy.api import APIError, InvalidRequest

    refused = APIError(451, "Blocked by policy.", "blocked")
    assert refused.status == 451
    assert refused.to_dict() == {
        "error": {"message": "Blocked by policy.", "type": "invalid_request_error", "code": "blocked", "param": None}
    }
    assert APIError(404, "No such thing.").to_dict()["error"]["type"] == "not_found_error"
    assert APIError(503, "Down.").to_dict()["error"] == {
        "message": "Down.", "type": "server_error", "code": None, "param": None,
    }
    # The keyword spelling and the subclasses keep working.
    assert APIError("Busy.", status=429, type="rate_limit_error", code="busy").status == 429
    assert InvalidRequest("Bad field.", param="model").to_dict()["error"]["param"] == "model"
    with pytest.raises(TypeError):
        APIError(400)  # a status without a message
    with pytest.raises(TypeError):
        APIError(400, "twice", status=401)
