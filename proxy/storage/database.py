"""Database set-up: connection config, migrations per dialect, start and stop."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tortoise import Tortoise

import migrations
from config.settings import Settings

MODEL_MODULES = ["proxy.storage.models", "aerich.models"]
MIGRATIONS_ROOT = Path(migrations.__file__).parent
DIALECTS = ("sqlite", "postgres")
CORE_APP = "models"


@dataclass(frozen=True)
class PluginModels:
    """A plugin's tables, as its ``register_models`` hook declares them.

    ``modules``: the Tortoise model modules. ``migrations``: a folder holding
    ``sqlite/<plugin name>/`` and ``postgres/<plugin name>/``, each an aerich migration history.
    """

    modules: tuple[str, ...]
    migrations: Path


@dataclass(frozen=True)
class ModelApp:
    """One Tortoise app with its own migration history: the core's (``models``) or a plugin's."""

    name: str
    modules: tuple[str, ...]
    migrations: Path  # holds a folder per dialect, each with a folder named after the app

    def location(self, url: str) -> Path:
        return self.migrations / dialect_of(url)


def core_app(root: Path = MIGRATIONS_ROOT) -> ModelApp:
    return ModelApp(CORE_APP, tuple(MODEL_MODULES), root)


def dialect_of(url: str) -> str:
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgres", "postgresql", "asyncpg", "psycopg"):
        return "postgres"
    raise ValueError(f"unsupported database URL scheme {scheme!r}: use sqlite:// or postgres://")


def tortoise_config(url: str, plugin_apps: Sequence[ModelApp] = ()) -> dict[str, Any]:
    """Tortoise's config: the core's app and each plugin's, all on one connection.

    Sharing the connection lets a plugin's model point at the core's (``"models.User"``).
    """
    if urlsplit(url).scheme == "postgresql":
        url = "postgres" + url[len("postgresql") :]
    # Naming the connection after its dialect keeps tortoise's per-connection query cache from
    # serving SQLite's SQL to PostgreSQL when one process (a test run) uses both.
    connection = dialect_of(url)
    return {
        "connections": {connection: url},
        "apps": {
            CORE_APP: {"models": MODEL_MODULES, "default_connection": connection},
            **{app.name: {"models": list(app.modules), "default_connection": connection} for app in plugin_apps},
        },
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


async def open_database(settings: Settings, plugin_apps: Sequence[ModelApp] = ()) -> None:
    """Connect this process (or worker) to the database, with the enabled plugins' models."""
    secure_data_dir(settings.data_dir)
    _prepare_sqlite(settings.database_url)
    # The global fallback lets request tasks, which Sanic starts outside this task's context,
    # see the ORM state.
    await Tortoise.init(config=tortoise_config(settings.database_url, plugin_apps), _enable_global_fallback=True)


async def close_database() -> None:
    await Tortoise.close_connections()


async def migrate(
    database_url: str, root: Path = MIGRATIONS_ROOT, plugin_apps: Sequence[ModelApp] = ()
) -> list[str]:
    """Apply every migration the database lacks, the core's first, then each plugin's.

    Returns the names applied; a plugin's are prefixed with its name (``<plugin>/0_….py``).
    ``root`` holds a ``<dialect>/models/`` folder per dialect (tests pass a copy holding a prefix
    of the history to build a database at an earlier schema).
    """
    from aerich import Command

    _prepare_sqlite(database_url)
    config = tortoise_config(database_url, plugin_apps)
    applied: list[str] = []
    try:
        for app in (core_app(root), *plugin_apps):
            command = Command(config, app=app.name, location=str(app.location(database_url)))
            await command.init()
            names = await command.upgrade(run_in_transaction=True)
            applied += names if app.name == CORE_APP else [f"{app.name}/{name}" for name in names]
    finally:
        await Tortoise.close_connections()
    return applied


def _reset_aerich() -> None:
    """aerich collects a diff's operations in class attributes and never clears them: without
    this, writing both dialects (or several apps) in one process mixes their statements."""
    from aerich.migrate import Migrate

    for collected in ("upgrade_operators", "downgrade_operators", "_upgrade_fk_m2m_index_operators",
                      "_downgrade_fk_m2m_index_operators", "_upgrade_m2m", "_downgrade_m2m"):  # fmt: skip
        setattr(Migrate, collected, [])


def _initial_schema(connection: Any, app: str) -> str:
    """CREATE TABLE IF NOT EXISTS for one app's models only, in foreign-key order.

    aerich's own initial migration holds every app on the connection; a plugin's first migration
    must create its tables alone (those of the core exist already), and IF NOT EXISTS lets it run
    on a database where the tables were made before they moved into the plugin.
    """
    generator = connection.schema_generator(connection)
    tables = [generator._get_table_sql(model, safe=True) for model in Tortoise.apps[app].values()]
    own = {table["table"] for table in tables}
    created: set[str] = set()
    ordered: list[str] = []
    while tables:
        ready = next(t for t in tables if (t["references"] & own) <= created | {t["table"]})
        tables.remove(ready)
        created.add(ready["table"])
        ordered.append(ready["table_creation_string"])
        ordered += ready["m2m_tables"]
    return "\n".join(ordered)


async def make_migrations(
    database_url: str, name: str = "update", root: Path = MIGRATIONS_ROOT, app: ModelApp | None = None,
    plugin_apps: Sequence[ModelApp] = (),
) -> str | None:
    """Write a migration for model changes of ``app`` (the core's by default), for the dialect of
    ``database_url`` (offline). ``plugin_apps``: the other apps, which ``app`` may point at.

    Returns the new file's name, or None when the models match the last migration.
    """
    from aerich import Command
    from aerich.migrate import Migrate
    from aerich.utils import get_app_connection, get_models_describe

    _reset_aerich()
    app = app or core_app(root)
    others = [other for other in plugin_apps if other.name != app.name]
    config = tortoise_config(database_url, [*others, *([app] if app.name != CORE_APP else [])])
    location = app.location(database_url)
    command = Command(config, app=app.name, location=str(location))
    try:
        if not any((location / app.name).glob("*.py")):
            if app.name == CORE_APP:
                await command.init_migrations(safe=True)
            else:
                await Tortoise.init(config=config)
                await Migrate.init(config, app.name, str(location), offline=True)
                schema = _initial_schema(get_app_connection(config, app.name), app.name)
                version = await Migrate.generate_version(offline=True)
                (location / app.name).mkdir(parents=True, exist_ok=True)
                text = Migrate.build_migration_file_text(upgrade_sql=schema, models_state=get_models_describe(app.name))
                (location / app.name / version).write_text(text, encoding="utf-8")
            return sorted(p.name for p in (location / app.name).glob("*.py"))[-1]
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
