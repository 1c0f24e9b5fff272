"""Token quotas on the dashboard: an admin sets a user's quota, every user sees theirs and what is left."""

from __future__ import annotations

import httpx

from dashboard.models import AuditEntry
from plugins.quotas.models import UserQuota
from proxy.storage.models import User
from tests.dashboard.conftest import make_api_key
from tests.fake_ollama import FakeOllama, Reply

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def chat(gateway, secret: str) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {secret}"})


def test_admin_sets_a_quota_on_the_dashboard_and_the_user_sees_it(gateway, client_for, fake: FakeOllama) -> None:
    admin = client_for("root", admin=True)
    alice = client_for("alice")
    _, secret = make_api_key(gateway, "alice")
    fake.queue(Reply(content="x", prompt_eval_count=300, eval_count=100), times=2)
    assert chat(gateway, secret).status_code == 200
    page = alice.get("/").text
    assert "Your token quota" in page and "20,000,000" in page and "300,000,000" in page
    assert "400" in page  # used today and this month

    target = gateway.run(User.get(username="alice"))
    assert "Token quotas" in admin.get("/admin").text
    bad = admin.post(f"/admin/users/{target.id}/quota", {"daily_tokens": "many", "monthly_tokens": ""})
    assert bad.status_code == 400 and "whole number" in bad.text
    saved = admin.post(f"/admin/users/{target.id}/quota", {"daily_tokens": "1,000", "monthly_tokens": ""})
    assert saved.status_code == 302 and saved.headers["location"].endswith("done=quota_saved")
    row = gateway.run(UserQuota.get(user_id=target.id))
    assert (row.daily_tokens, row.monthly_tokens) == (1000, None)
    # The change is in the audit log: who, whose quota, what it is now.
    entry = gateway.run(AuditEntry.filter(action="quota.set").first())
    assert (entry.actor, entry.subject, entry.details) == ("root", "alice", "daily 1000, monthly default")
    assert 'value="1000"' in admin.get("/admin").text
    page = alice.get("/").text
    assert "1,000" in page and "600" in page  # 1,000 a day, 400 used: 600 left

    # Not an admin: the route does not exist for them, nothing changes.
    assert alice.post(f"/admin/users/{target.id}/quota", {"daily_tokens": "0"}).status_code == 404
    assert gateway.run(UserQuota.get(user_id=target.id)).daily_tokens == 1000
