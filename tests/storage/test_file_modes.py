"""The data directory and SQLite's files are owner-only: they hold conversations and key hashes."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.support.gateway import GatewayServer


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_files_and_data_dir_are_created_owner_only(start_gateway, tmp_path: Path) -> None:
    gateway: GatewayServer = start_gateway(env={"LLMGATE_SECRET_KEY": ""})  # the secret is generated
    data = tmp_path / "data"
    database = data / "llmgate.sqlite3"
    assert gateway.settings.database_url == f"sqlite://{database}"
    gateway.run(_write(gateway))
    files = [database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))]
    assert all(f.exists() for f in files), [f.name for f in files if not f.exists()]
    assert mode(data) == 0o700
    assert {f.name: mode(f) for f in [*files, data / "secret_key"]} == dict.fromkeys(
        [f.name for f in files] + ["secret_key"], 0o600
    )


async def _write(gateway: GatewayServer) -> None:
    from proxy.accounts import create_user

    await create_user("filemodes", "a long enough password")


def test_loose_modes_are_tightened_at_start(start_gateway, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    database = data / "llmgate.sqlite3"
    database.touch()
    database.chmod(0o644)
    gateway = start_gateway()
    gateway.run(_write(gateway))
    assert (mode(data), mode(database)) == (0o700, 0o600)
    for suffix in ("-wal", "-shm"):  # SQLite gives them the database file's mode
        assert mode(database.with_name(database.name + suffix)) == 0o600
