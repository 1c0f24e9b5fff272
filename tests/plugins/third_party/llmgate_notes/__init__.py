"""A third-party plugin with a table of its own: a note per user, and ``llmgate note add|list``.

Installed by the tests through an ``llmgate.plugins`` entry point named ``notes``; its migrations
live in ``migrations/<dialect>/notes/`` (the folder is named after the entry point).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from proxy.api import PluginModels, cli_settings, get_user, hookimpl, print_table, with_database


@hookimpl
def register_models() -> PluginModels:
    return PluginModels(modules=("llmgate_notes.models",), migrations=Path(__file__).parent / "migrations")


def _add(args: argparse.Namespace) -> None:
    from llmgate_notes.models import Note

    async def work() -> None:
        user = await get_user(args.username)
        await Note.create(user=user, text=args.text)
        print(f"noted for {user.username}")

    asyncio.run(with_database(cli_settings(), work))


def _list(args: argparse.Namespace) -> None:
    from llmgate_notes.models import Note

    async def work() -> None:
        notes = await Note.all().select_related("user").order_by("id")
        print_table([("USER", "NOTE"), *((note.user.username, note.text) for note in notes)])

    asyncio.run(with_database(cli_settings(), work))


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction) -> None:
    note = subparsers.add_parser("note", help="users' notes").add_subparsers(dest="note_command", required=True)
    add = note.add_parser("add")
    add.add_argument("username")
    add.add_argument("text")
    add.set_defaults(func=_add)
    note.add_parser("list").set_defaults(func=_list)
