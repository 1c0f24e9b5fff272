"""Data safety: a populated database upgrades to the current schema without losing a row.

For each dialect and every migration N in ``migrations/<dialect>/models/``: apply the history up to
N only (a copy of its first N files), fill the database with realistic rows of every table that
exists at that schema, apply the rest of the history, and read every row back through the current
models: same values, the password still verifies, the API key still authenticates, the Ollama key
still decrypts and its usage still counts for it, the stored response is still served.

Rows are written through the ORM (model instances, the dialect's own value conversion). At an older
schema a model may have fields whose columns do not exist yet: those instances are inserted with
only the columns that exist (``insert_present``), the way the ORM would have written them then.
A migration that drops or renames a column a row needs must add that value in ``OLD_COLUMNS``.
Works unchanged as migrations are added: the steps are read from the migrations folder.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tortoise import Tortoise
from tortoise.models import Model

from config.settings import load_settings
from dashboard.models import AuthThrottle, DashboardSession
from dashboard.routes.usage import per_ollama_key_totals
from dashboard.usage_data import Totals
from plugins.api_key_auth import load_principal
from plugins.emulator import stored
from plugins.emulator.models import StoredItem, StoredResponse
from plugins.ollama_keys.candidates import preferred_key_id, usage_ref
from plugins.ollama_keys.models import OllamaKey, OllamaKeyPreference, UpstreamAttempt
from proxy.plugin_host import build_runner, model_apps
from proxy.security import SecretBox, display_prefix, hash_api_key, hash_password, new_api_key, verify_password
from proxy.storage.database import MIGRATIONS_ROOT, dialect_of, migrate, tortoise_config
from proxy.storage.models import ApiKey, UsageRecord, User, UserSettings

HISTORY = {d: sorted(p.name for p in (MIGRATIONS_ROOT / d / "models").glob("*.py")) for d in ("sqlite", "postgres")}
STEPS = len(HISTORY["sqlite"])  # test_migrations checks both dialects have the same history
# The built-in plugins' own tables, each with its own history, applied after the core's.
PLUGIN_APPS = model_apps(build_runner(load_settings(env={}))[0])
PLUGIN_HISTORY = {
    d: [f"{app.name}/{p.name}" for app in PLUGIN_APPS for p in sorted((app.location(f"{d}://") / app.name).glob("*.py"))]
    for d in ("sqlite", "postgres")
}
PASSWORD = "correct horse battery staple"
OLLAMA_SECRET = "ollama-secret-0123456789abcdef"
SECRET_BOX = SecretBox(b"upgrade-test-secret-key-0123456789")
# Values for columns that existed in an older schema but no longer map to a model field:
# {table: {column: value}}; ``populate`` fills it (the values depend on rows it writes).
OLD_COLUMNS: dict[str, dict[str, Any]] = {}


def prefix_root(tmp_path: Path, dialect: str, count: int) -> Path:
    """A migrations root holding only the first ``count`` migrations of ``dialect``."""
    root = tmp_path / f"migrations_{count}"
    models = root / dialect / "models"
    models.mkdir(parents=True)
    for name in HISTORY[dialect][:count]:
        shutil.copy(MIGRATIONS_ROOT / dialect / "models" / name, models / name)
    return root


async def _columns(url: str) -> dict[str, set[str]]:
    """Table -> its columns, as the database has them now."""
    connection = Tortoise.get_connection(dialect_of(url))
    if dialect_of(url) == "sqlite":
        _, tables = await connection.execute_query("SELECT name FROM sqlite_master WHERE type='table'")
        found = {}
        for row in tables:
            _, cols = await connection.execute_query(f'PRAGMA table_info("{row["name"]}")')
            found[row["name"]] = {c["name"] for c in cols}
        return found
    _, rows = await connection.execute_query(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
    )
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row["table_name"], set()).add(row["column_name"])
    return found


async def insert_present(instance: Model, present: set[str], force_columns: bool) -> list[str]:
    """Insert ``instance`` with the columns that exist; returns the field names written."""
    meta = instance._meta
    projection = meta.fields_db_projection
    old_columns = set(OLD_COLUMNS.get(meta.db_table, {})) & present
    if not force_columns and not old_columns and set(projection.values()) <= present:
        await instance.save(force_create=True)
        return list(projection)
    connection = meta.db
    executor = connection.executor_class(model=type(instance), db=connection)
    custom_pk = instance._custom_generated_pk
    names = [f for f in (executor.regular_columns_all if custom_pk else executor.regular_columns) if projection[f] in present]
    columns = [projection[f] for f in names]
    values = [meta.fields_map[f].to_db_value(getattr(instance, f), instance) for f in names]
    extra = {c: v for c, v in OLD_COLUMNS.get(meta.db_table, {}).items() if c in present}
    query = str(executor._prepare_insert_statement([*columns, *extra], has_generated=not custom_pk))
    result = await connection.execute_insert(query, [*values, *extra.values()])
    if not custom_pk:
        await executor._process_insert_result(instance, result)
    instance._saved_in_db = True
    return names


async def populate(url: str, force_columns: bool) -> tuple[list[tuple[Model, list[str]]], dict[str, str]]:
    """Realistic rows in every table that exists; returns (instance, fields written) and secrets."""
    tables = await _columns(url)
    written: list[tuple[Model, list[str]]] = []

    async def add(instance: Model) -> Model | None:
        present = tables.get(instance._meta.db_table)
        if present is None:
            return None  # the table comes with a later migration
        written.append((instance, await insert_present(instance, present, force_columns)))
        return instance

    now = datetime.now(UTC).replace(microsecond=123456)
    api_secret, revoked_secret = new_api_key(), new_api_key()
    alice = await add(User(username="alice", password_hash=hash_password(PASSWORD), is_admin=True))
    bob = await add(User(username="bob.ü@example", password_hash=hash_password(PASSWORD), disabled=True))
    assert alice is not None and bob is not None, "the first migration creates users"
    ollama = await add(OllamaKey(
        user_id=alice.id, name="personal", secret_encrypted=SECRET_BOX.encrypt(OLLAMA_SECRET), masked="…cdef",
        position=1, account_id="acct-1", account_email="alice@example.com", plan="pro",
        exhausted_until=now + timedelta(hours=5), exhausted_since=now, exhausted_window="session",
        last_error="429 session limit — «quoted»", last_error_at=now,
        usage={"session": {"used_percent": 99.5, "resets_at": "2026-01-01T00:00:00Z"}, "weekly": None},
        usage_fetched_at=now, usage_next_fetch_at=now + timedelta(minutes=10),
    ))  # fmt: skip
    # The preference was a column of user_settings until the ollama_keys plugin took it over.
    OLD_COLUMNS["user_settings"] = {"preferred_ollama_key_id": ollama.id if ollama else None}
    await add(UserSettings(user_id=alice.id, selected_model="gpt-oss:120b"))
    key = await add(ApiKey(user_id=alice.id, name="laptop", mode="bypass", prefix=display_prefix(api_secret),
                           key_hash=hash_api_key(api_secret), last_used_at=now))
    await add(ApiKey(user_id=alice.id, name="old", mode="emulator", prefix=display_prefix(revoked_secret),
                     key_hash=hash_api_key(revoked_secret), revoked_at=now))
    for index in range(3):
        through_key = ollama if index else None  # the first served by the shared upstream
        # Up to the core's migration 5 a row named its key in ollama_key_id; now in upstream_ref.
        OLD_COLUMNS["usage_records"] = {"ollama_key_id": through_key.id if through_key else None}
        await add(UsageRecord(
            created_at=now - timedelta(minutes=index), user_id=alice.id, api_key_id=key.id if key else None,
            upstream_ref=usage_ref(through_key.id) if through_key else None, mode="bypass", model="gpt-oss:120b",
            upstream="ollama.com" if index else "shared", status=200 if index < 2 else 502, stream=bool(index % 2),
            input_tokens=1000 + index, output_tokens=2 ** 31 - 1 - index, duration_ms=1234 + index,
        ))  # fmt: skip
    OLD_COLUMNS.pop("usage_records")
    await add(UpstreamAttempt(created_at=now, user_id=alice.id, ollama_key_id=ollama.id if ollama else None,
                              upstream="ollama.com", status=429, message="session limit reached"))
    message = {"id": "msg_upgrade", "type": "message", "role": "assistant",
               "content": [{"type": "output_text", "text": "héllo ✓"}]}
    response = {"id": "resp_upgrade", "object": "response", "status": "completed", "model": "gpt-5", "output": [message]}
    kept = await add(StoredResponse(id="resp_upgrade", user_id=alice.id, expires_at=now + timedelta(days=30),
                                    previous_response_id=None, messages=[{"role": "user", "content": "hi 👋"}],
                                    response=response))
    if kept is not None:
        await add(StoredItem(user_id=alice.id, response_id=kept.id, item_id="msg_upgrade",
                             expires_at=kept.expires_at, item=message))
    await add(DashboardSession(id="a" * 64, user_id=alice.id, csrf_token="c" * 64, expires_at=now + timedelta(days=1)))
    await add(AuthThrottle(key="user:alice", attempts=3, delay=2.5, blocked_until=now.timestamp() + 60,
                           updated_at=now.timestamp()))
    return written, {"api_key": api_secret, "revoked": revoked_secret}


async def _at_prefix(url: str, root: Path, count: int, force_columns: bool) -> tuple[list[tuple[type[Model], Any, dict[str, Any]]], dict[str, str]]:
    applied = await migrate(url, root=root)
    assert applied == HISTORY[dialect_of(url)][:count]
    await Tortoise.init(config=tortoise_config(url, PLUGIN_APPS))
    try:
        written, secrets = await populate(url, force_columns)
        # What each row must still hold: the values as the model instance has them.
        expected = [(type(obj), obj.pk, {f: getattr(obj, f) for f in names}) for obj, names in written]
        return expected, secrets
    finally:
        await Tortoise.close_connections()


async def _after_upgrade(url: str, count: int, expected: list[tuple[type[Model], Any, dict[str, Any]]],
                         secrets: dict[str, str]) -> None:
    applied = await migrate(url, plugin_apps=PLUGIN_APPS)
    assert applied == HISTORY[dialect_of(url)][count:] + PLUGIN_HISTORY[dialect_of(url)]
    await Tortoise.init(config=tortoise_config(url, PLUGIN_APPS))
    try:
        per_model: dict[type[Model], int] = {}
        for model, pk, values in expected:
            per_model[model] = per_model.get(model, 0) + 1
            row = await model.get_or_none(**{model._meta.db_pk_column: pk})
            assert row is not None, f"{model.__name__} {pk} lost in the upgrade"
            for field, value in values.items():
                assert getattr(row, field) == value, f"{model.__name__} {pk}.{field}: {getattr(row, field)!r} != {value!r}"
        for model, count_written in per_model.items():
            assert await model.all().count() == count_written, model.__name__
        # Still usable, not just present.
        alice = await User.get(username="alice")
        assert verify_password(alice.password_hash, PASSWORD)
        principal = await load_principal(hash_api_key(secrets["api_key"]))
        assert principal is not None and principal.username == "alice" and principal.mode == "bypass"
        assert await load_principal(hash_api_key(secrets["revoked"])) is None
        if OllamaKey in per_model:
            key = await OllamaKey.get(user_id=alice.id, name="personal")
            assert SECRET_BOX.decrypt(key.secret_encrypted) == OLLAMA_SECRET
            # The preferred key moved from user_settings into the ollama_keys plugin's table.
            assert await preferred_key_id(alice.id) == key.id
            assert [a.ollama_key_id for a in await UpstreamAttempt.all()] == [key.id]  # type: ignore[attr-defined]
            if UsageRecord in per_model:
                # Rows that named the key in ollama_key_id refer to it through upstream_ref now, and
                # the dashboard's per-key usage counts them.
                refs = await UsageRecord.filter(user_id=alice.id).order_by("-created_at").values_list("upstream_ref", flat=True)
                assert refs == [None, usage_ref(key.id), usage_ref(key.id)]
                month = (await per_ollama_key_totals(alice.id))["30d"]
                assert month == {key.id: Totals(2, 1001 + 1002, 2 * (2**31 - 1) - 1 - 2)}
        if StoredResponse in per_model:
            response = await stored.fetch(alice.id, "resp_upgrade")
            assert response is not None and response["output"][0]["content"][0]["text"] == "héllo ✓"
            # Its output items are referenceable, also when they were stored before the items table
            # existed (the migration that adds it fills it from the stored responses).
            items = await stored.referenced_items(alice.id, ["msg_upgrade"])
            assert items == {"msg_upgrade": response["output"][0]}
        # Every current table is readable through its model.
        for model in (User, UserSettings, ApiKey, OllamaKey, UsageRecord, UpstreamAttempt, StoredResponse, StoredItem,
                      DashboardSession, AuthThrottle, OllamaKeyPreference):
            await model.all().limit(5)
    finally:
        await Tortoise.close_connections()


CASES = [pytest.param(n, False, id=f"from_{n}_of_{STEPS}") for n in range(1, STEPS + 1)]
# The column-by-column writer old schemas need, proven at the head schema where the ORM can check it.
CASES.append(pytest.param(STEPS, True, id="column_writer_at_head"))


@pytest.mark.parametrize(("count", "force_columns"), CASES)
def test_populated_database_upgrades_without_loss(database_url: str, tmp_path: Path, count: int,
                                                  force_columns: bool) -> None:
    dialect = dialect_of(database_url)
    root = prefix_root(tmp_path, dialect, count)
    expected, secrets = asyncio.run(_at_prefix(database_url, root, count, force_columns))
    assert {m for m, _, _ in expected} >= {User, ApiKey}
    if count == STEPS:
        assert {m for m, _, _ in expected} == {User, UserSettings, ApiKey, OllamaKey, UsageRecord,
                                               UpstreamAttempt, StoredResponse, StoredItem, DashboardSession,
                                               AuthThrottle}
    asyncio.run(_after_upgrade(database_url, count, expected, secrets))
