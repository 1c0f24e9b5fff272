"""Migrations: both dialects apply from empty, and none is missing for the current models."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from tortoise import Tortoise

from config.settings import load_settings
from proxy.plugin_host import build_runner, model_apps
from proxy.storage.database import (
    ModelApp,
    core_app,
    make_migrations,
    migrate,
    tortoise_config,
)

PLUGIN_APPS = model_apps(build_runner(load_settings(env={}))[0])  # the built-in plugins' tables


async def _tables(url: str) -> set[str]:
    await Tortoise.init(config=tortoise_config(url))
    try:
        connection = Tortoise.get_connection(next(iter(tortoise_config(url)["connections"])))
        if url.startswith("sqlite"):
            _, rows = await connection.execute_query("SELECT name FROM sqlite_master WHERE type='table'")
        else:
            _, rows = await connection.execute_query("SELECT tablename AS name FROM pg_tables WHERE schemaname='public'")
        return {row["name"] for row in rows}
    finally:
        await Tortoise.close_connections()


def test_migrations_apply_from_empty_and_only_once(database_url: str) -> None:
    applied = asyncio.run(migrate(database_url, plugin_apps=PLUGIN_APPS))
    assert applied and applied[0].startswith("0_")
    assert {name.split("/")[0] for name in applied if "/" in name} == {app.name for app in PLUGIN_APPS}
    tables = asyncio.run(_tables(database_url))
    assert tables >= {"users", "api_keys", "user_settings", "ollama_keys", "usage_records", "stored_responses",
                      "stored_items", "dashboard_sessions", "auth_throttle", "aerich"}
    assert asyncio.run(migrate(database_url, plugin_apps=PLUGIN_APPS)) == []  # nothing left to do


@pytest.mark.parametrize("url", ["sqlite://:memory:", "postgres://llmgate@127.0.0.1:1/offline"])
def test_no_migration_is_missing_for_the_models(url: str, tmp_path: Path) -> None:
    """Fails when a model changed without `llmgate makemigrations` (works offline, no server):
    the core's models and each built-in plugin's."""
    copies = [ModelApp(app.name, app.modules, tmp_path / app.name) for app in (core_app(), *PLUGIN_APPS)]
    for original, copy in zip((core_app(), *PLUGIN_APPS), copies, strict=True):
        shutil.copytree(original.migrations, copy.migrations)
    for app in copies:
        created = asyncio.run(make_migrations(url, "check", app=app, plugin_apps=copies[1:]))
        assert created is None, f"{app.name}: models changed without a migration; run `llmgate makemigrations` ({created})"


@pytest.mark.parametrize("app", [core_app(), *PLUGIN_APPS], ids=lambda app: app.name)
def test_both_dialects_have_the_same_history(app: ModelApp) -> None:
    def versions(dialect: str) -> list[str]:
        folder = app.migrations / dialect / app.name
        return [p.name.split("_", 1)[0] + "_" + p.name.rsplit("_", 1)[-1] for p in sorted(folder.glob("*.py"))]

    assert versions("sqlite") and versions("sqlite") == versions("postgres")
