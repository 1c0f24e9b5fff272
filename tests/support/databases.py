"""Throwaway databases: a SQLite file per test, or a fresh PostgreSQL database per test."""

from __future__ import annotations

import asyncio
import os
import uuid
from urllib.parse import urlsplit, urlunsplit

PG_ENV = "LLMGATE_TEST_DATABASE_URL"
PG_SKIP_REASON = (
    f"PostgreSQL tests need {PG_ENV} (e.g. postgres://postgres@127.0.0.1:5432/test, a role that may "
    "CREATE DATABASE); .ci/run sets it"
)


def pg_admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


async def _admin(sql: str) -> None:
    import asyncpg

    url = pg_admin_url()
    assert url
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def create_pg_database() -> str:
    name = "llmgate_t_" + uuid.uuid4().hex[:12]
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    parts = urlsplit(pg_admin_url() or "")
    return urlunsplit(parts._replace(scheme="postgres", path="/" + name))


def drop_pg_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
