"""The audit log: every account action recorded with time, actor and address (the real client's,
behind a proxy), never a secret; admins filter it, each user sees their own sign-ins; old entries
are purged; command-line actions are recorded as "cli"."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dashboard import audit
from dashboard.models import AuditEntry
from proxy.audit import AccountEvent
from proxy.storage.models import User
from tests.dashboard.conftest import PASSWORD, DashboardClient, StubPlugin, make_user
from tests.fake_ollama import FakeOllama
from tests.support.gateway import GatewayServer

NEW_PASSWORD = "a brand new passphrase"
WRONG_PASSWORD = "not the password at all"
OLLAMA_SECRET = "ollama-secret-key-wxyz-4321"
ALICE_ADDRESS = "198.51.100.7"
ROOT_ADDRESS = "198.51.100.99"


@pytest.fixture
def proxied(start_gateway: Callable[..., GatewayServer]) -> GatewayServer:
    """Behind one proxy, with the Ollama keys service stubbed (no upstream check of the key)."""
    plugin = StubPlugin()
    gateway = start_gateway(
        env={"LLMGATE_PLUGINS_DISABLED": "ollama_keys", "LLMGATE_PROXIES_COUNT": "1"},
        extra_plugins={"stub_ollama_keys": plugin},
    )
    gateway.stub = plugin.service  # type: ignore[attr-defined]
    return gateway


def _client(gateway: GatewayServer, address: str) -> DashboardClient:
    # The proxy appends the address it saw; what the client claimed before it is ignored.
    return DashboardClient(gateway, headers={"X-Forwarded-For": f"10.6.6.6, {address}"})


def _rows(gateway: GatewayServer) -> list[AuditEntry]:
    return gateway.run(AuditEntry.all().order_by("id"))


def _text(row: AuditEntry) -> str:
    return f"{row.actor} {row.action} {row.subject} {row.target} {row.address} {row.details}"


def test_every_action_is_recorded_with_actor_and_the_real_address_and_no_secret(proxied: GatewayServer) -> None:
    make_user(proxied, "root", admin=True)
    alice = _client(proxied, ALICE_ADDRESS)
    assert alice.register("alice").status_code == 302
    assert alice.signin("alice", WRONG_PASSWORD).status_code == 401
    assert alice.signin("nobody-" + WRONG_PASSWORD.replace(" ", ""), WRONG_PASSWORD).status_code == 401
    assert alice.signin("alice").status_code == 302
    api_secret = alice.create_key("laptop")
    key_id = re.search(r"/keys/(\d+)/revoke", alice.get("/keys").text).group(1)  # type: ignore[union-attr]
    assert alice.post(f"/keys/{key_id}/revoke").status_code == 302
    assert alice.post("/ollama-keys", {"name": "cloud", "secret": OLLAMA_SECRET}).status_code == 302
    ollama_id = re.search(r"/ollama-keys/(\d+)/prefer", alice.get("/ollama-keys").text).group(1)  # type: ignore[union-attr]
    assert alice.post(f"/ollama-keys/{ollama_id}/prefer").status_code == 302
    assert alice.post("/ollama-keys/shared").status_code == 302
    assert alice.post(f"/ollama-keys/{ollama_id}/delete").status_code == 302
    changed = alice.post("/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 302

    root = _client(proxied, ROOT_ADDRESS)
    assert root.signin("root").status_code == 302
    alice_id = proxied.run(User.get(username="alice")).id
    assert root.post(f"/admin/users/{alice_id}/disable").status_code == 302
    assert root.post(f"/admin/users/{alice_id}/enable").status_code == 302
    assert root.post("/admin/users", {"username": "bob", "password": PASSWORD, "is_admin": "1"}).status_code == 302
    bob_id = proxied.run(User.get(username="bob")).id
    assert root.post(f"/admin/users/{bob_id}/approve").status_code == 302

    rows = _rows(proxied)
    seen = [(r.actor, r.action, r.subject, r.address) for r in rows]
    alice_did = [
        ("alice", "user.registered", "alice"), ("alice", "signin.failed", "alice"), ("", "signin.failed", ""),
        ("alice", "signin", "alice"), ("alice", "api_key.created", "alice"), ("alice", "api_key.revoked", "alice"),
        ("alice", "ollama_key.added", "alice"), ("alice", "ollama_key.preferred", "alice"),
        ("alice", "ollama_key.preferred", "alice"), ("alice", "ollama_key.removed", "alice"),
        ("alice", "password.changed", "alice"),
    ]
    root_did = [
        ("root", "signin", "root"), ("root", "user.disabled", "alice"), ("root", "user.enabled", "alice"),
        ("root", "user.created", "bob"), ("root", "user.approved", "bob"),
    ]
    assert seen == [(*a, ALICE_ADDRESS) for a in alice_did] + [(*a, ROOT_ADDRESS) for a in root_did]
    assert all(r.at > datetime.now(UTC) - timedelta(minutes=10) for r in rows)
    api_key = next(r for r in rows if r.action == "api_key.created")
    assert api_secret[:8] in api_key.target and "laptop" in api_key.target  # the display prefix
    added = next(r for r in rows if r.action == "ollama_key.added")
    assert "…4321" in added.target and "cloud" in added.target  # the masked form and the label
    assert next(r for r in rows if r.action == "user.created").details == "admin"
    everything = "\n".join(_text(r) for r in rows)
    for secret in (api_secret, api_secret[8:], PASSWORD, NEW_PASSWORD, WRONG_PASSWORD, OLLAMA_SECRET,
                   WRONG_PASSWORD.replace(" ", "")):
        assert secret not in everything
    for client in (alice, root):
        client.http.close()


def test_a_failed_write_does_not_fail_the_signin_and_is_logged(
    gateway: GatewayServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    make_user(gateway, "alice")

    class Broken:
        @staticmethod
        async def create(**values: object) -> None:
            raise RuntimeError("the disk is full")

    monkeypatch.setattr(audit, "AuditEntry", Broken)
    client = DashboardClient(gateway)
    with caplog.at_level(logging.ERROR, logger="llmgate"):
        assert client.signin("alice").status_code == 302
    assert "could not record signin in the audit log" in caplog.text and PASSWORD not in caplog.text
    client.http.close()


def _add(gateway: GatewayServer, actor: str, action: str, *, at: datetime, subject: str = "", **more: str) -> None:
    event = AccountEvent(actor=actor, action=action, subject=subject or actor, at=at, **more)
    gateway.run(audit.write(event))


def test_admins_filter_the_log_by_user_action_and_dates_a_page_at_a_time(
    start_gateway: Callable[..., GatewayServer], database_url: str, client_for: Callable[..., DashboardClient]
) -> None:
    gateway = start_gateway(database_url=database_url)
    now = datetime.now(UTC)
    for i in range(55):
        _add(gateway, "carol", "api_key.created", at=now - timedelta(minutes=i), target=f"key {i}")
    _add(gateway, "dave", "signin", at=now - timedelta(days=3), address="192.0.2.4")
    _add(gateway, "dave", "user.disabled", at=now - timedelta(days=10), subject="erin")
    _add(gateway, "<script>alert(1)</script>", "signin.failed", at=now, details='"><img src=x onerror=alert(2)>')
    admin = client_for("root", admin=True, gw=gateway)

    first = admin.get("/admin/audit?user=carol").text
    assert first.count("api_key.created</code>") == audit.PAGE_SIZE and "key 0<" in first and "Older" in first
    second = admin.get("/admin/audit?user=carol&page=2").text
    assert second.count("api_key.created</code>") == 5 and "key 54<" in second and "Newer" in second
    assert "dave" not in first + second

    by_subject = admin.get("/admin/audit?user=erin").text  # the account acted on, not only the actor
    assert "user.disabled</code>" in by_subject and "signin</code>" not in by_subject
    signins = admin.get("/admin/audit?action=signin").text
    assert "192.0.2.4" in signins and "api_key.created</code>" not in signins
    day = (now - timedelta(days=3)).date().isoformat()
    dated = admin.get(f"/admin/audit?since={day}&until={day}").text
    assert "192.0.2.4" in dated and "user.disabled</code>" not in dated and "carol" not in dated
    bad = admin.get("/admin/audit?since=yesterday")
    assert bad.status_code == 400 and "Since must be a date" in bad.text

    everything = admin.get("/admin/audit").text
    assert "<script>alert(1)" not in everything and "&lt;script&gt;alert(1)&lt;/script&gt;" in everything
    assert "<img src=x" not in everything and "&lt;img src=x" in everything


def test_only_admins_see_the_log(client_for: Callable[..., DashboardClient]) -> None:
    user = client_for("alice")
    page = user.get("/admin/audit")
    assert page.status_code == 404 and "Audit log" not in page.text
    assert client_for().get("/admin/audit").status_code == 302  # signed out: to the sign-in page


def test_each_user_sees_only_their_own_signins(proxied: GatewayServer) -> None:
    make_user(proxied, "alice")
    make_user(proxied, "bob")
    alice = _client(proxied, ALICE_ADDRESS)
    assert alice.signin("alice", WRONG_PASSWORD).status_code == 401
    assert alice.signin("alice").status_code == 302
    bob = _client(proxied, "203.0.113.50")
    assert bob.signin("bob", WRONG_PASSWORD).status_code == 401
    assert bob.signin("bob").status_code == 302

    page = alice.get("/account").text
    history = page[page.index("Recent sign-ins"):]
    assert history.count(ALICE_ADDRESS) == 2 and "Failed" in history and "Signed in" in history
    assert "wrong password" in history and "203.0.113.50" not in history
    assert "203.0.113.50" in bob.get("/account").text and ALICE_ADDRESS not in bob.get("/account").text
    for client in (alice, bob):
        client.http.close()


def test_old_entries_are_purged_after_the_retention(
    start_gateway: Callable[..., GatewayServer], database_url: str
) -> None:
    gateway = start_gateway(database_url=database_url)
    now = datetime.now(UTC)
    _add(gateway, "old", "signin", at=now - timedelta(days=181))
    _add(gateway, "recent", "signin", at=now - timedelta(days=179))
    assert gateway.run(audit.purge(180)) == 1
    assert [r.actor for r in _rows(gateway)] == ["recent"]


def test_the_retention_setting_is_checked(make_settings: Callable[..., object]) -> None:
    from config.settings import SettingsError

    assert audit.retention_days({}) == audit.DEFAULT_RETENTION_DAYS
    assert audit.retention_days({"audit_retention_days": 30}) == 30
    for wrong in (0, -5, "soon"):
        with pytest.raises(SettingsError, match="audit_retention_days"):
            audit.retention_days({"audit_retention_days": wrong})


# --- the command line -------------------------------------------------------------------------


CLI_SECRET = "cli-secret-key-abcd-9876"


def test_command_line_actions_are_recorded_as_cli_without_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake: FakeOllama, capsys: pytest.CaptureFixture[str]
) -> None:
    from proxy.cli import main
    from proxy.cli_support import cli_settings, with_database

    for name, value in {
        "LLMGATE_DATA_DIR": str(tmp_path / "data"),
        "LLMGATE_DATABASE_URL": f"sqlite://{tmp_path / 'cli.sqlite3'}",
        "LLMGATE_SECRET_KEY": "cli-test-secret-0123456789-abcdefghij",
        "LLMGATE_OLLAMA_CLOUD_URL": fake.url,
    }.items():
        monkeypatch.setenv(name, value)

    def run(*argv: str, stdin: str = "") -> str:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert code == 0, err
        return out

    run("user", "create", "alice", "--admin", "--password-stdin", stdin=PASSWORD + "\n")
    run("user", "approve", "alice")
    api_secret = run("api-key", "create", "alice", "--mode", "bypass", "--name", "script").strip().splitlines()[-1]
    run("api-key", "revoke", api_secret[:12])
    run("ollama-key", "add", "alice", "--name", "main", "--key-stdin", stdin=CLI_SECRET + "\n")
    run("ollama-key", "remove", "alice", "main")

    rows = asyncio.run(with_database(cli_settings(), lambda: AuditEntry.all().order_by("id")))
    assert [(r.actor, r.action, r.subject, r.address) for r in rows] == [
        ("cli", action, "alice", "") for action in (
            "user.created", "user.approved", "api_key.created", "api_key.revoked", "ollama_key.added",
            "ollama_key.removed",
        )
    ]
    assert rows[0].details == "admin" and api_secret[:8] in rows[2].target and "…9876" in rows[4].target
    everything = "\n".join(_text(r) for r in rows)
    assert api_secret not in everything and PASSWORD not in everything and CLI_SECRET not in everything
