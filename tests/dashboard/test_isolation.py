"""Nobody reaches another user's keys, usage or settings by editing ids: every such attempt is a 404."""

from __future__ import annotations

import httpx

from dashboard import build_blueprint
from plugins.ollama_keys.models import OllamaKey
from proxy.storage.models import ApiKey, UserSettings
from tests.dashboard.conftest import make_api_key, make_ollama_key, make_user
from tests.support.gateway import GatewayServer

# Every route that takes an id, with who may use it. A new route must be added here (see below).
ROUTES_WITH_IDS = {
    ("GET", "/keys/<key_id:int>/revoke"): "api_key",
    ("POST", "/keys/<key_id:int>/revoke"): "api_key",
    ("GET", "/usage/api-keys/<key_id:int>"): "api_key",
    ("GET", "/usage/ollama-keys/<key_id:int>"): "ollama_key",
    ("POST", "/ollama-keys/<key_id:int>/prefer"): "ollama_key",
    ("POST", "/ollama-keys/<key_id:int>/up"): "ollama_key",
    ("POST", "/ollama-keys/<key_id:int>/down"): "ollama_key",
    ("POST", "/ollama-keys/<key_id:int>/refresh"): "ollama_key",
    ("POST", "/ollama-keys/<key_id:int>/recheck"): "ollama_key",
    ("GET", "/ollama-keys/<key_id:int>/delete"): "ollama_key",
    ("POST", "/ollama-keys/<key_id:int>/delete"): "ollama_key",
    ("POST", "/admin/users/<target_id:int>/disable"): "user",
    ("POST", "/admin/users/<target_id:int>/enable"): "user",
    ("POST", "/admin/users/<target_id:int>/approve"): "user",
    ("POST", "/admin/users/<target_id:int>/quota"): "user",
}
ADMIN_ONLY = {("GET", "/admin")}


def test_every_route_with_an_id_is_covered_here() -> None:
    found = set()
    for route in build_blueprint()._future_routes:
        if "<" in route.uri and "path:path" not in route.uri:
            for method in route.methods:
                found.add((method, route.uri.removeprefix("/dashboard")))
    assert found == set(ROUTES_WITH_IDS)


def test_another_users_ids_are_404_on_every_route(stub_gateway: GatewayServer, client_for) -> None:
    gateway = stub_gateway
    make_user(gateway, "alice")
    api_key, secret = make_api_key(gateway, "alice")
    ollama_key = make_ollama_key(gateway, "alice", "alice-cloud")
    alice = make_user(gateway, "alice")
    bob = client_for("bob", gw=gateway)
    ids = {"api_key": api_key.id, "ollama_key": ollama_key.id, "user": alice.id}
    for (method, uri), kind in ROUTES_WITH_IDS.items():
        path = uri.split("<")[0] + str(ids[kind]) + uri.split(">")[1]
        response = bob.get(path) if method == "GET" else bob.post(path, {"direction": "up"})
        assert response.status_code == 404, (method, path, response.status_code)
        assert "alice" not in response.text, path
    for method, path in ADMIN_ONLY:
        assert bob.get(path).status_code == 404
    # Nothing changed: the key works, the Ollama key is there, the service was never asked.
    assert gateway.run(ApiKey.get(id=api_key.id)).revoked_at is None
    assert gateway.run(OllamaKey.filter(id=ollama_key.id).exists())
    assert gateway.stub.calls == []  # type: ignore[attr-defined]
    reply = httpx.get(gateway.url + "/v1/models", headers={"authorization": f"Bearer {secret}"})
    assert reply.status_code == 200


def test_pages_list_only_your_own_things(stub_gateway: GatewayServer, client_for) -> None:
    gateway = stub_gateway
    make_user(gateway, "alice")
    make_api_key(gateway, "alice")
    make_ollama_key(gateway, "alice", "alices-cloud-key")
    bob = client_for("bob", gw=gateway)
    for path in ("/", "/keys", "/ollama-keys", "/usage", "/account", "/guide"):
        page = bob.get(path).text
        assert "alice" not in page, path


def test_forms_ignore_smuggled_owner_fields(stub_gateway: GatewayServer, client_for) -> None:
    gateway = stub_gateway
    alice = make_user(gateway, "alice")
    bob = client_for("bob", gw=gateway)
    bob.post("/keys", {"name": "mine", "mode": "bypass", "user_id": str(alice.id), "user": str(alice.id)})
    bob.post("/model", {"model": "qwen3:8b", "user_id": str(alice.id)})
    assert gateway.run(ApiKey.filter(user_id=alice.id).count()) == 0
    assert gateway.run(UserSettings.filter(user_id=alice.id).exists()) is False
