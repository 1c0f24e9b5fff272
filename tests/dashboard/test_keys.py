"""API keys on the dashboard: created in either mode, shown once, listed, revoked at once."""

from __future__ import annotations

import httpx

from proxy.storage.models import ApiKey
from tests.fake_ollama import FakeOllama
from tests.support.gateway import GatewayServer


def chat(gateway: GatewayServer, secret: str) -> httpx.Response:
    return httpx.post(
        gateway.url + "/v1/chat/completions",
        json={"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {secret}"},
    )


def test_create_shows_the_secret_once(gateway: GatewayServer, client_for, fake: FakeOllama) -> None:
    client = client_for("ana")
    response = client.post("/keys", {"name": "laptop", "mode": "bypass"})
    assert response.status_code == 302  # a redirect: reloading cannot create a second key
    page = client.get("/keys")
    assert 'id="new-api-key"' in page.text and 'data-copy-target="new-api-key"' in page.text
    secret = page.text.split('id="new-api-key" class="secret">')[1].split("<")[0]
    assert secret.startswith("sk-") and chat(gateway, secret).status_code == 200
    assert gateway.run(ApiKey.filter(name="laptop").count()) == 1
    for path in ("/keys", "/", "/usage", "/guide", "/account", "/ollama-keys", "/keys/1/revoke", "/usage/api-keys/1"):
        assert secret not in client.get(path).text, path


def test_list_shows_name_mode_prefix_and_counts(gateway: GatewayServer, client_for, fake: FakeOllama) -> None:
    client = client_for("bob")
    secret = client.create_key("ci runner", "bypass")
    client.create_key("codex", "emulator")
    chat(gateway, secret)
    gateway.run(gateway.state.services["usage_recorder"].flush())
    page = client.get("/keys").text
    assert "ci runner" in page and "codex" in page and secret[:12] in page
    assert "emulator" in page and "bypass" in page
    row = page.split("ci runner</a>")[1].split("</tr>")[0]
    assert '<td class="num">1</td>' in row


def test_bad_mode_is_refused(gateway: GatewayServer, client_for) -> None:
    response = client_for("cyd").post("/keys", {"name": "x", "mode": "superuser"})
    assert response.status_code == 400 and "Choose a mode" in response.text


def test_revoke_asks_then_refuses_the_key_at_once(gateway: GatewayServer, client_for, fake: FakeOllama) -> None:
    client = client_for("dia")
    secret = client.create_key("temp", "bypass")
    assert chat(gateway, secret).status_code == 200  # cached as valid in this worker
    key_id = gateway.run(ApiKey.get(name="temp")).id
    confirm = client.get(f"/keys/{key_id}/revoke")
    assert confirm.status_code == 200 and "Revoke key" in confirm.text and "cannot be undone" in confirm.text
    assert client.post(f"/keys/{key_id}/revoke").headers["location"].endswith("done=revoked")
    assert chat(gateway, secret).status_code == 401
    assert "Revoked keys (1)" in client.get("/keys").text
    assert client.get(f"/keys/{key_id}/revoke").status_code == 404  # nothing left to revoke
