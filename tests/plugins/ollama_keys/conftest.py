"""Helpers: a gateway whose Ollama Cloud is the fake, and a user with Ollama keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from plugins.ollama_keys.models import OllamaKey
from proxy.storage.models import User
from tests.fake_ollama import FakeOllama
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer

CHAT = {"model": "gpt-oss:120b-cloud", "messages": [{"role": "user", "content": "hi"}]}


@dataclass
class KeyedUser:
    gateway: GatewayServer
    api_key: str
    user_id: int
    key_ids: dict[str, int]  # secret -> OllamaKey id

    def chat(self, **body: Any) -> httpx.Response:
        return httpx.post(
            self.gateway.url + "/v1/chat/completions",
            json={**CHAT, **body},
            headers={"authorization": f"Bearer {self.api_key}"},
            timeout=30,
        )

    def row(self, secret: str) -> OllamaKey:
        return self.gateway.run(OllamaKey.get(id=self.key_ids[secret]))


def add_keys(gateway: GatewayServer, secrets: list[str], *, preferred: int | None = 0, mode: str = "bypass", username: str = "alice") -> KeyedUser:
    """Create ``username`` with an API key and Ollama keys named k0, k1, … in this order."""
    api_key = make_key(gateway, mode=mode, username=username)
    svc = gateway.state.services["ollama_keys"]
    user = gateway.run(User.get(username=username))
    ids = {}
    for index, secret in enumerate(secrets):
        key = gateway.run(svc.add(user.id, f"k{index}", secret, preferred=index == preferred))
        ids[secret] = key.id
    return KeyedUser(gateway, api_key, user.id, ids)


def bearers(fake: FakeOllama) -> list[str | None]:
    return [r.bearer for r in fake.chat_requests()]


@pytest.fixture
def keyed_gateway(start_gateway, fake: FakeOllama) -> Callable[..., GatewayServer]:
    """Start a gateway whose Ollama Cloud URL is the fake (the shared upstream is the fake too)."""

    def start(database_url: str | None = None, overrides: dict[str, Any] | None = None) -> GatewayServer:
        kwargs: dict[str, Any] = {"env": {"LLMGATE_OLLAMA_CLOUD_URL": fake.url}}
        if overrides:
            kwargs["overrides"] = {"plugins": {"ollama_keys": overrides}}
        return start_gateway(database_url=database_url, **kwargs)

    return start
