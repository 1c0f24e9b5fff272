"""Helpers for dashboard handler tests: a cookie-keeping client that fills in CSRF tokens."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

import proxy.security
from plugins.ollama_keys.models import OllamaKey
from proxy.accounts import create_api_key, create_user
from proxy.hookspecs import hookimpl
from proxy.storage.models import ApiKey, User
from tests.support.gateway import GatewayServer

PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at its production cost takes ~0.4 s per sign-in on a small CI box; these tests check
    behaviour, not cost, so they hash with the cheapest parameters argon2 allows."""
    from dashboard.routes import auth

    monkeypatch.setattr(proxy.security, "_password_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    auth._dummy_hash.cache_clear()
    yield
    auth._dummy_hash.cache_clear()


class DashboardClient:
    """A browser stand-in: keeps cookies, finds the CSRF token on a page, never follows redirects."""

    def __init__(self, gateway: GatewayServer, **kwargs: Any) -> None:
        self.gateway = gateway
        self.http = httpx.Client(base_url=gateway.url + "/dashboard", follow_redirects=False, **kwargs)
        self.token: str | None = None

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def csrf(self, page: str = "/") -> str:
        response = self.get(page)
        match = CSRF_RE.search(response.text)
        assert match, f"no CSRF token on {page} ({response.status_code})"
        return match.group(1)

    def post(self, path: str, data: dict[str, str] | None = None, *, token: str | None = None, **kwargs: Any) -> httpx.Response:
        form = dict(data or {})
        if "csrf_token" not in form:
            if token is None:
                token = self.token or self.csrf("/")
            form["csrf_token"] = token
        return self.http.post(path, data=form, **kwargs)

    def register(self, username: str, password: str = PASSWORD) -> httpx.Response:
        return self.http.post("/register", data={"username": username, "password": password, "csrf_token": self.csrf("/register")})

    def signin(self, username: str, password: str = PASSWORD) -> httpx.Response:
        token = self.http.cookies.get("llmgate_csrf") or self.csrf("/signin")
        response = self.http.post("/signin", data={"username": username, "password": password, "csrf_token": token})
        if response.status_code == 302:
            self.token = self.csrf("/")
        return response

    def create_key(self, name: str = "k", mode: str = "bypass") -> str:
        response = self.post("/keys", {"name": name, "mode": mode})
        assert response.status_code == 302, response.text
        page = self.get("/keys").text
        match = re.search(r'id="new-api-key"[^>]*>([^<]+)<', page)
        assert match, "the new key is not on the page"
        return match.group(1).strip()


@pytest.fixture
def client_for(request: pytest.FixtureRequest) -> Callable[..., DashboardClient]:
    """Clients of the test's gateway (``gw``, else the ``gateway`` fixture), signed in as ``username``."""
    clients: list[DashboardClient] = []

    def make(username: str | None = None, *, admin: bool = False, gw: GatewayServer | None = None) -> DashboardClient:
        target = gw or request.getfixturevalue("stub_gateway" if "stub_gateway" in request.fixturenames else "gateway")
        client = DashboardClient(target)
        clients.append(client)
        if username:
            make_user(target, username, admin=admin)
            assert client.signin(username).status_code == 302
        return client

    yield make
    for client in clients:
        client.http.close()


def make_user(gateway: GatewayServer, username: str, *, admin: bool = False) -> User:
    async def work() -> User:
        return await User.filter(username=username).first() or await create_user(username, PASSWORD, is_admin=admin)

    return gateway.run(work())


def make_api_key(gateway: GatewayServer, username: str, mode: str = "bypass") -> tuple[ApiKey, str]:
    async def work() -> tuple[ApiKey, str]:
        return await create_api_key(await User.get(username=username), mode, f"{username}'s {mode} key")

    return gateway.run(work())


def make_ollama_key(gateway: GatewayServer, username: str, name: str = "cloud") -> OllamaKey:
    async def work() -> OllamaKey:
        user = await User.get(username=username)
        return await OllamaKey.create(
            user=user, name=name, secret_encrypted=gateway.state.secret_box.encrypt("ollama-secret-" + name),
            masked="…" + name[-4:], plan="pro", usage={"limits": {"session": {"usage": 0.3}, "weekly": {"usage": 0.5}}},
        )

    return gateway.run(work())


@dataclass
class StubView:
    """What the ollama_keys service's list_keys returns (the fields the pages read)."""

    id: int
    name: str
    masked: str
    preferred: bool = False
    state: str = "ok"
    plan: str | None = "pro"
    account_email: str | None = "a@example.com"
    siblings: list[str] = field(default_factory=list)
    exhausted_since: Any = None
    exhausted_until: Any = None
    exhausted_window: str | None = None
    invalid_since: Any = None
    last_error: str | None = None
    last_error_at: Any = None
    session_used: float | None = 0.3
    weekly_used: float | None = 0.5
    monthly_used: float | None = None
    session_resets_at: Any = None
    weekly_resets_at: Any = None
    monthly_resets_at: Any = None
    usage_fetched_at: Any = None
    usage_error: str | None = None
    session_requests: int = 0
    week_requests: int = 0


class StubOllamaKeys:
    """Stands in for ``state.services["ollama_keys"]`` and records every call it gets."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.refuse: str | None = None

    async def list_keys(self, user_id: int, *, refresh: bool = False) -> list[StubView]:
        keys = await OllamaKey.filter(user_id=user_id).order_by("position", "id")
        return [StubView(k.id, k.name, k.masked) for k in keys]

    async def preferred_key(self, user_id: int) -> None:
        return None  # a read, not recorded: the stub keeps no preference

    async def add(self, user_id: int, name: str, secret: str, *, preferred: bool = False) -> OllamaKey:
        from proxy.accounts import AccountError

        self.calls.append(("add", user_id, name, preferred))
        if self.refuse:
            raise AccountError(self.refuse)
        return await OllamaKey.create(user_id=user_id, name=name, secret_encrypted="x", masked="…" + secret[-4:])

    def __getattr__(self, name: str) -> Callable[..., Any]:
        async def record(*args: Any) -> None:
            self.calls.append((name, *args))

        def record_sync(*args: Any) -> bool:
            self.calls.append((name, *args))
            return True

        return record_sync if name == "request_refresh" else record


class StubPlugin:
    def __init__(self) -> None:
        self.service = StubOllamaKeys()

    @hookimpl
    def startup(self, state: Any) -> None:
        state.services["ollama_keys"] = self.service


@pytest.fixture
def stub_gateway(start_gateway: Callable[..., GatewayServer]) -> GatewayServer:
    """A gateway whose Ollama keys service is a recording stub (the real plugin switched off)."""
    plugin = StubPlugin()
    gateway = start_gateway(env={"LLMGATE_PLUGINS_DISABLED": "ollama_keys"}, extra_plugins={"stub_ollama_keys": plugin})
    gateway.stub = plugin.service  # type: ignore[attr-defined]
    return gateway
