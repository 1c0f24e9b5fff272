"""Migrations: both dialects apply from empty, and none is missing for the current models."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from tortoise import Tortoise

from proxy.storage.database import MIGRATIONS_ROOT, make_migrations, migrate, tortoise_config


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
    applied = asyncio.run(migrate(database_url))
    assert applied and applied[0].startswith("0_")
    tables = asyncio.run(_tables(database_url))
    assert tables >= {"users", "api_keys", "user_settings", "ollama_keys", "usage_records", "stored_responses", "aerich"}
    assert asyncio.run(migrate(database_url)) == []  # nothing left to do: data is untouched


@pytest.mark.parametrize("url", ["sqlite://:memory:", "postgres://llmgate@127.0.0.1:1/offline"])
def test_no_migration_is_missing_for_the_models(url: str, tmp_path: Path) -> None:
    """Fails when a model changed without `llmgate makemigrations` (works offline, no server)."""
    root = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_ROOT, root)
    created = asyncio.run(make_migrations(url, "check", root=root))
    assert created is None, f"models changed without a migration; run `llmgate makemigrations` ({created})"


def test_both_dialects_have_the_same_history() -> None:
    def versions(dialect: str) -> list[str]:
        return [p.name.split("_", 1)[0] + "_" + p.name.rsplit("_", 1)[-1] for p in sorted((MIGRATIONS_ROOT / dialect / "models").glob("*.py"))]

    assert versions("sqlite") == versions("postgres")
