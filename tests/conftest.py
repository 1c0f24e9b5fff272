"""Fixtures: a fake Ollama on loopback, settings per test, the gateway on SQLite or PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings, load_settings
from tests.fake_ollama import FakeOllama
from tests.support.databases import PG_SKIP_REASON, create_pg_database, drop_pg_database, pg_admin_url
from tests.support.gateway import GatewayServer

# Gateways still running in this test; a database is dropped only after its gateways stop.
_running: list[GatewayServer] = []


@pytest.fixture(scope="session")
def fake_ollama_server() -> Iterator[FakeOllama]:
    with FakeOllama() as fake:
        yield fake


@pytest.fixture
def fake(fake_ollama_server: FakeOllama) -> FakeOllama:
    """The fake Ollama, reset for this test."""
    fake_ollama_server.reset()
    return fake_ollama_server


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that asks for it runs once per database; PostgreSQL only where configured."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'llmgate.sqlite3'}"
        return
    if not pg_admin_url():
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tests: " + PG_SKIP_REASON)
        pytest.skip(PG_SKIP_REASON)
    url = create_pg_database()
    try:
        yield url
    finally:
        for gateway in [g for g in _running if g.settings.database_url == url]:
            gateway.stop()
        drop_pg_database(url)


@pytest.fixture
def make_settings(tmp_path: Path, fake_ollama_server: FakeOllama) -> Callable[..., Settings]:
    """Settings isolated from the machine's environment: data in tmp_path, upstream = the fake."""

    def build(overrides: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> Settings:
        base_env = {
            "LLMGATE_DATA_DIR": str(tmp_path / "data"),
            "LLMGATE_UPSTREAM_URL": fake_ollama_server.url,
            "LLMGATE_SECRET_KEY": "test-secret-key-0123456789-abcdefghij",
        }
        base_env.update(env or {})
        return load_settings(env=base_env, overrides=overrides)

    return build


@pytest.fixture
def start_gateway(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., GatewayServer]]:
    """Start gateways for this test; all are stopped at its end."""
    started: list[GatewayServer] = []

    def start(
        settings: Settings | None = None,
        *,
        database_url: str | None = None,
        extra_plugins: dict[str, Any] | None = None,
        **settings_kwargs: Any,
    ) -> GatewayServer:
        if settings is None:
            env = dict(settings_kwargs.pop("env", {}) or {})
            if database_url:
                env["LLMGATE_DATABASE_URL"] = database_url
            settings = make_settings(env=env, **settings_kwargs)
        gateway = GatewayServer(settings, extra_plugins=extra_plugins)
        started.append(gateway)
        _running.append(gateway)
        return gateway.start()

    yield start
    for gateway in reversed(started):
        gateway.stop()
        _running.remove(gateway)


@pytest.fixture
def gateway(start_gateway: Callable[..., GatewayServer]) -> GatewayServer:
    """A gateway on SQLite in front of the fake Ollama."""
    return start_gateway()
