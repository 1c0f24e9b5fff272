"""Database set-up: connection config, migrations per dialect, start and stop."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tortoise import Tortoise

import migrations
from config.settings import Settings

MODEL_MODULES = ["proxy.storage.models", "aerich.models"]
MIGRATIONS_ROOT = Path(migrations.__file__).parent
DIALECTS = ("sqlite", "postgres")


def dialect_of(url: str) -> str:
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgres", "postgresql", "asyncpg", "psycopg"):
        return "postgres"
    raise ValueError(f"unsupported database URL scheme {scheme!r}: use sqlite:// or postgres://")


def tortoise_config(url: str) -> dict[str, Any]:
    if urlsplit(url).scheme == "postgresql":
        url = "postgres" + url[len("postgresql") :]
    # Naming the connection after its dialect keeps tortoise's per-connection query cache from
    # serving SQLite's SQL to PostgreSQL when one process (a test run) uses both.
    connection = dialect_of(url)
    return {
        "connections": {connection: url},
        "apps": {"models": {"models": MODEL_MODULES, "default_connection": connection}},
        "use_tz": True,
        "timezone": "UTC",
    }


def migrations_dir(url: str, root: Path = MIGRATIONS_ROOT) -> Path:
    return root / dialect_of(url)


OWNER_ONLY_FILE = 0o600
OWNER_ONLY_DIR = 0o700


def _tighten(path: Path, mode: int) -> None:
    """Take away group and other access from ``path`` if it has any (never widens)."""
    if path.exists() and path.stat().st_mode & 0o077:
        path.chmod(mode)


def secure_data_dir(data_dir: Path) -> None:
    """The data directory holds the database and the secret: owner-only, also when made by hand."""
    _tighten(data_dir, OWNER_ONLY_DIR)


def _prepare_sqlite(url: str) -> None:
    """SQLite's folder and file, created owner-only (or tightened if they are not).

    The file is created here, before SQLite opens it, because SQLite creates it with the umask's
    mode (usually 0644) and gives its -wal and -shm files the mode of the database file: stored
    conversations and key hashes must not be readable by other local users.
    """
    if dialect_of(url) != "sqlite":
        return
    path = url.split("://", 1)[1].split("?", 1)[0]
    if not path or path == ":memory:":
        return
    database = Path(path)
    if not database.parent.exists():
        database.parent.mkdir(mode=OWNER_ONLY_DIR, parents=True, exist_ok=True)
    os.close(os.open(database, os.O_WRONLY | os.O_CREAT, OWNER_ONLY_FILE))
    for suffix in ("", "-wal", "-shm", "-journal"):
        _tighten(database.with_name(database.name + suffix), OWNER_ONLY_FILE)


async def open_database(settings: Settings) -> None:
    """Connect this process (or worker) to the database."""
    secure_data_dir(settings.data_dir)
    _prepare_sqlite(settings.database_url)
    # The global fallback lets request tasks, which Sanic starts outside this task's context,
    # see the ORM state.
    await Tortoise.init(config=tortoise_config(settings.database_url), _enable_global_fallback=True)


async def close_database() -> None:
    await Tortoise.close_connections()


async def migrate(database_url: str, root: Path = MIGRATIONS_ROOT) -> list[str]:
    """Apply every migration the database lacks; returns the names applied.

    ``root`` holds a ``<dialect>/models/`` folder per dialect (tests pass a copy holding a prefix
    of the history to build a database at an earlier schema).
    """
    from aerich import Command

    _prepare_sqlite(database_url)
    command = Command(
        tortoise_config(database_url), app="models", location=str(migrations_dir(database_url, root))
    )
    await command.init()
    try:
        return await command.upgrade(run_in_transaction=True)
    finally:
        await Tortoise.close_connections()


async def make_migrations(database_url: str, name: str = "update", root: Path = MIGRATIONS_ROOT) -> str | None:
    """Write a migration for model changes, for the dialect of ``database_url`` (offline).

    Returns the new file's name, or None when the models match the last migration.
    """
    from aerich import Command
    from aerich.migrate import Migrate

    # aerich collects a diff's operations in class attributes and never clears them: without this,
    # writing both dialects in one process puts SQLite's statements into the PostgreSQL migration.
    for collected in ("upgrade_operators", "downgrade_operators", "_upgrade_fk_m2m_index_operators",
                      "_downgrade_fk_m2m_index_operators", "_upgrade_m2m", "_downgrade_m2m"):  # fmt: skip
        setattr(Migrate, collected, [])
    location = migrations_dir(database_url, root)
    command = Command(tortoise_config(database_url), app="models", location=str(location))
    try:
        if not any((location / "models").glob("*.py")):
            await command.init_migrations(safe=True)
            return sorted(p.name for p in (location / "models").glob("*.py"))[-1]
        await command.init(offline=True)
        created = await command.migrate(name, no_input=True, offline=True)
        return created or None
    finally:
        await Tortoise.close_connections()


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) means the database cannot be reached right now.

    A refused or dropped connection, PostgreSQL shutting down or starting up: the request may
    well succeed in a moment, so clients get a 503 rather than a 500. The asyncpg pool reconnects
    on the next query once the server is back.
    """
    import asyncpg
    from tortoise.exceptions import DBConnectionError

    unavailable = (
        ConnectionError,  # refused, reset (OSError); tortoise's DBConnectionError is one too
        DBConnectionError,
        asyncpg.PostgresConnectionError,  # class 08: the connection failed or is gone
        asyncpg.exceptions.OperatorInterventionError,  # class 57P: shutting down, cannot connect now
        asyncpg.exceptions.ConnectionDoesNotExistError,
    )
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, unavailable):
            return True
        if isinstance(current, asyncpg.InterfaceError) and "connection is closed" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def default_postgres_placeholder() -> str:
    """An offline PostgreSQL URL for generating migrations: nothing connects to it."""
    return os.environ.get("LLMGATE_TEST_DATABASE_URL", "postgres://llmgate@127.0.0.1:5432/llmgate")
