"""Admins see every user, disable and enable them, and see global usage."""

from __future__ import annotations

import httpx
import redis

from dashboard.models import DashboardSession
from proxy.auth_events import CHANNEL
from proxy.storage.models import User
from tests.dashboard.conftest import make_api_key, make_user
from tests.fake_ollama import FakeOllama
from tests.support.gateway import GatewayServer
from tests.support.redis_server import RedisServer, redis_server  # noqa: F401


def models(gateway: GatewayServer, secret: str) -> int:
    return httpx.get(gateway.url + "/v1/models", headers={"authorization": f"Bearer {secret}"}).status_code


def test_admin_disables_a_user_whose_keys_stop_at_once(gateway: GatewayServer, client_for, fake: FakeOllama) -> None:
    admin = client_for("root", admin=True)
    victim = client_for("bob")
    _, secret = make_api_key(gateway, "bob")
    assert models(gateway, secret) == 200  # now cached as valid
    page = admin.get("/admin")
    assert page.status_code == 200 and "bob" in page.text and "root" in page.text and "Everyone" in page.text
    bob = gateway.run(User.get(username="bob"))
    assert admin.post(f"/admin/users/{bob.id}/disable").headers["location"].endswith("done=disabled")
    assert models(gateway, secret) == 401
    assert gateway.run(DashboardSession.filter(user_id=bob.id).exists()) is False
    assert victim.get("/").status_code == 302
    assert client_for().signin("bob").status_code == 403
    assert "Disabled" in admin.get("/admin").text
    admin.post(f"/admin/users/{bob.id}/enable")
    assert models(gateway, secret) == 200
    assert client_for().signin("bob").status_code == 302


def test_admin_cannot_disable_themselves(gateway: GatewayServer, client_for) -> None:
    admin = client_for("root", admin=True)
    me = gateway.run(User.get(username="root"))
    response = admin.post(f"/admin/users/{me.id}/disable")
    assert response.status_code == 400 and "your own account" in response.text
    assert gateway.run(User.get(id=me.id)).disabled is False


def test_unknown_user_is_404_and_non_admins_see_no_admin_link(gateway: GatewayServer, client_for) -> None:
    admin = client_for("root", admin=True)
    assert admin.post("/admin/users/99999/disable").status_code == 404
    make_user(gateway, "plain")
    plain = client_for("plain")
    assert 'href="/dashboard/admin"' not in plain.get("/").text
    assert 'href="/dashboard/admin"' in admin.get("/").text


def test_disabling_and_revoking_are_announced_on_redis(start_gateway, client_for, redis_server: RedisServer) -> None:  # noqa: F811
    """With Redis, the dashboard tells every instance at once (they drop their cached keys)."""
    gateway = start_gateway(env={"LLMGATE_REDIS_URL": redis_server.url, "LLMGATE_AUTH_CACHE_SECONDS": "60"})
    listener = redis.Redis.from_url(redis_server.url).pubsub(ignore_subscribe_messages=True)
    listener.subscribe(CHANNEL)
    listener.get_message(timeout=1)  # the subscription's confirmation

    def announcements() -> int:
        count = 0
        while listener.get_message(timeout=0.5) is not None:
            count += 1
        return count

    admin = client_for("root", admin=True, gw=gateway)
    api_key, _ = make_api_key(gateway, "root")
    bob = make_user(gateway, "bob")
    assert admin.post(f"/admin/users/{bob.id}/disable").status_code == 302
    assert announcements() == 1
    assert admin.post(f"/keys/{api_key.id}/revoke").status_code == 302
    assert announcements() == 1
    listener.close()
