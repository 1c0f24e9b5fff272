"""Emulator mode with Ollama keys: failover before output, and Codex's quota headers."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import orjson
import pytest

from plugins.ollama_keys import windows
from tests.fake_ollama import SESSION_LIMIT, FakeOllama, KeyBehaviour, Reply
from tests.plugins.ollama_keys.conftest import add_keys, bearers

pytest.importorskip("plugins.emulator.plugin")

A, B = "emu-key-aaaa-1111", "emu-key-bbbb-2222"
BODY = {"model": "gpt-5.4", "input": "hi"}


def post(user, stream: bool) -> httpx.Response:
    return httpx.post(
        user.gateway.url + "/v1/responses",
        json={**BODY, "stream": stream},
        headers={"authorization": f"Bearer {user.api_key}"},
        timeout=30,
    )


@pytest.mark.parametrize("stream", [False, True])
def test_quota_headers_come_from_the_serving_key(keyed_gateway, fake: FakeOllama, stream: bool) -> None:
    gateway = keyed_gateway()
    fake.keys[B] = KeyBehaviour(usage={"limits": {"session": {"usage": 0.25}, "weekly": {"usage": 0.5}}})
    user = add_keys(gateway, [A, B], mode="emulator")
    fake.keys[A] = KeyBehaviour(reply=Reply(status=429, error=SESSION_LIMIT))
    response = post(user, stream)
    assert response.status_code == 200
    assert bearers(fake) == [A, B]
    now = datetime.now(UTC)
    headers = response.headers
    assert headers["x-codex-primary-used-percent"] == "25"
    assert headers["x-codex-primary-window-minutes"] == "300"
    assert int(headers["x-codex-primary-reset-at"]) == int(windows.session_reset(now).timestamp())
    assert headers["x-codex-secondary-used-percent"] == "50"
    assert headers["x-codex-secondary-window-minutes"] == "10080"
    assert int(headers["x-codex-secondary-reset-at"]) == int(windows.weekly_reset(now).timestamp())


def test_monthly_plans_report_the_month_as_secondary(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway()
    fake.keys[A] = KeyBehaviour(usage={"limits": {"session": {"usage": 0.0}, "monthly": {"usage": 0.75}}})
    user = add_keys(gateway, [A], mode="emulator")
    response = post(user, False)
    assert response.headers["x-codex-secondary-used-percent"] == "75"
    now = datetime.now(UTC)
    assert response.headers["x-codex-secondary-window-minutes"] == str(windows.window_minutes("monthly", now))
    assert int(response.headers["x-codex-secondary-reset-at"]) == int(windows.monthly_reset(now).timestamp())


def test_no_quota_headers_from_the_shared_upstream(keyed_gateway, fake: FakeOllama) -> None:
    user = add_keys(keyed_gateway(), [A], preferred=None, mode="emulator")
    response = post(user, False)
    assert response.status_code == 200 and "x-codex-primary-used-percent" not in response.headers


def test_all_keys_used_up_is_a_usage_limit_for_codex(keyed_gateway, fake: FakeOllama) -> None:
    user = add_keys(keyed_gateway(), [A], mode="emulator")
    fake.keys[A] = KeyBehaviour(reply=Reply(status=429, error=SESSION_LIMIT))
    response = post(user, False)
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["type"] == "usage_limit_reached" and error["resets_at"] > 0


def test_stream_fails_over_before_the_first_output_item(keyed_gateway, fake: FakeOllama) -> None:
    gateway = keyed_gateway()
    user = add_keys(gateway, [A, B], mode="emulator")
    fake.keys[A] = KeyBehaviour(reply=Reply(content="", drop_connection=True))
    fake.keys[B] = KeyBehaviour(reply=Reply(content="served by b"))
    response = post(user, True)
    events = [orjson.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "response.completed", kinds
    assert "served by b" in response.text
    assert bearers(fake) == [A, B]
