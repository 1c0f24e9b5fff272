"""The overview with the model picker, the Ollama keys pages (stubbed and real), the guide."""

from __future__ import annotations

import html

from plugins.ollama_keys.models import OllamaKey
from proxy.storage.models import UserSettings
from tests.dashboard.conftest import DashboardClient
from tests.fake_ollama import FakeOllama, KeyBehaviour
from tests.support.gateway import GatewayServer


def test_model_picker_lists_upstream_models_and_saves_a_choice(gateway: GatewayServer, client_for, fake: FakeOllama) -> None:
    client: DashboardClient = client_for("ann")
    page = client.get("/").text
    assert "the shared upstream of this server is used" in page
    assert "the server's default" in page and gateway.settings.default_model in page
    names = [m["name"] for m in fake.models]
    assert names and all(f'<option value="{name}">' in page for name in names)
    assert client.post("/model", {"model": "qwen3:8b"}).status_code == 302
    user_id = gateway.run(UserSettings.get(user__username="ann")).user_id  # type: ignore[attr-defined]
    assert gateway.run(UserSettings.get(user_id=user_id)).selected_model == "qwen3:8b"
    assert "<code>qwen3:8b</code>" in client.get("/").text
    assert client.post("/model", {"model": "two words"}).status_code == 400
    client.post("/model", {"model": ""})
    assert gateway.run(UserSettings.get(user_id=user_id)).selected_model is None


def test_ollama_pages_say_when_the_plugin_is_off(start_gateway, client_for) -> None:
    gateway = start_gateway(env={"LLMGATE_PLUGINS_DISABLED": "ollama_keys"})
    client = client_for("ann", gw=gateway)
    page = client.get("/ollama-keys")
    assert page.status_code == 200 and "Ollama keys are not enabled on this server" in page.text
    assert client.post("/ollama-keys", {"name": "x", "secret": "y"}).status_code == 404


def test_ollama_key_actions_go_to_the_service(stub_gateway: GatewayServer, client_for) -> None:
    gateway = stub_gateway
    client = client_for("ann", gw=gateway)
    assert client.post("/ollama-keys", {"name": "mine", "secret": "abcd-1234", "preferred": "1"}).status_code == 302
    key = gateway.run(OllamaKey.get(name="mine"))
    page = client.get("/ollama-keys").text
    for label in ("Name", "Ollama API key", "Make preferred", "Delete", "Plan: pro", "Session usage", "30%", "Weekly usage", "50%"):
        assert label in page, label
    assert page.count('class="meter"') == 2
    for action in ("prefer", "up", "down", "refresh", "delete"):
        assert client.post(f"/ollama-keys/{key.id}/{action}").status_code == 302
    user_id = key.user_id  # type: ignore[attr-defined]
    assert [call[0] for call in gateway.stub.calls] == ["add", "make_preferred", "move_up", "move_down", "request_refresh", "remove"]  # type: ignore[attr-defined]
    assert gateway.stub.calls[0] == ("add", user_id, "mine", True)  # type: ignore[attr-defined]
    gateway.stub.refuse = "Ollama Cloud did not accept this key (401: unauthorized)."  # type: ignore[attr-defined]
    refused = client.post("/ollama-keys", {"name": "bad", "secret": "nope-nope"})
    assert refused.status_code == 400 and "401: unauthorized" in refused.text and "nope-nope" not in refused.text


def test_real_ollama_keys_plugin_checks_and_shows_the_key(start_gateway, client_for, fake: FakeOllama) -> None:
    gateway = start_gateway(env={"LLMGATE_OLLAMA_CLOUD_URL": fake.url})
    client = client_for("ann", gw=gateway)
    fake.keys["refused-key-123"] = KeyBehaviour(status=401)
    refused = client.post("/ollama-keys", {"name": "bad", "secret": "refused-key-123"})
    assert refused.status_code == 400 and "unauthorized" in refused.text
    assert client.post("/ollama-keys", {"name": "good", "secret": "good-key-123456", "preferred": "1"}).status_code == 302
    page = client.get("/ollama-keys").text
    assert "Plan: pro" in page and "10%" in page and "20%" in page and "…3456" in page
    assert "good-key-123456" not in page
    stored = gateway.run(OllamaKey.get(name="good"))
    assert "good-key" not in stored.secret_encrypted
    overview = client.get("/").text
    assert "Your Ollama key <strong>good</strong>" in overview


def test_guide_is_filled_with_this_servers_url(start_gateway) -> None:
    gateway = start_gateway()
    client = DashboardClient(gateway)
    page = html.unescape(client.get("/guide").text)
    assert f"curl {gateway.url}/v1/chat/completions" in page and f"curl {gateway.url}/v1/responses" in page
    assert f'base_url = "{gateway.url}/v1"' in page and 'wire_api = "responses"' in page and "Mode rules and endpoints" in page
    install = f"curl -fsS {gateway.url}/v1/codex/config.toml"
    assert install in page and f"{gateway.url}/v1/codex/catalog.json" in page  # one step installs both
    assert "LLMGATE_UPSTREAM_NUM_CTX" in page  # the fake is a self-hosted Ollama without num_ctx
    public = start_gateway(
        env={"LLMGATE_PUBLIC_URL": "https://llm.example.org", "LLMGATE_UPSTREAM_NUM_CTX": "65536"}
    )
    fixed = DashboardClient(public).get("/guide").text
    assert "curl https://llm.example.org/v1/responses" in fixed
    assert "LLMGATE_UPSTREAM_NUM_CTX" not in fixed


def test_unknown_pages_are_html_404s(gateway: GatewayServer, client_for) -> None:
    client = client_for("ann")
    response = client.get("/no/such/page")
    assert response.status_code == 404 and "text/html" in response.headers["content-type"]
