"""What every ``llmgate`` command needs, the core's and plugins' alike.

Plugins add commands through the ``register_commands`` hook and use these helpers; a command
raises ``CLIError`` for a reason it cannot do what was asked (shown as one line, exit status 1).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from config.settings import Settings, load_settings


class CLIError(Exception):
    """A reason the command cannot do what was asked, shown as one line."""


def cli_settings() -> Settings:
    """The settings, read as the gateway reads them (environment, config file, defaults)."""
    return load_settings()


async def with_database(settings: Settings, work: Callable[[], Awaitable[Any]]) -> Any:
    """Bring the schema up to date, open the database (the enabled plugins' tables too), run
    ``work``, close it again."""
    from proxy.plugin_host import build_runner, model_apps
    from proxy.storage.database import close_database, migrate, open_database

    apps = model_apps(build_runner(settings)[0])
    await migrate(settings.database_url, plugin_apps=apps)
    await open_database(settings, apps)
    try:
        return await work()
    finally:
        await close_database()


def print_table(rows: list[tuple[str, ...]]) -> None:
    """Print ``rows`` (the first is the header) in left-aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


async def record_action(settings: Settings, action: str, *, subject: str = "", target: str = "", details: str = "") -> None:
    """Record a command-line action in the audit log (``proxy.audit``), with actor "cli" and no
    address. Call it inside ``with_database``'s ``work``. Never pass a secret."""
    from proxy.audit import CLI, record
    from proxy.plugin_host import build_runner

    await record(build_runner(settings)[0], CLI, action, subject=subject, target=target, details=details)
