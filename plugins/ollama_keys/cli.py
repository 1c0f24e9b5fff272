"""``llmgate ollama-key add|list|remove``: operators' and scripts' view of users' Ollama keys."""

from __future__ import annotations

import argparse
import asyncio
import sys

import httpx

from plugins.ollama_keys import keys as key_ops
from proxy.api import CLIError, cli_settings, print_table, record_action, with_database


def _fraction(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def cmd_add(args: argparse.Namespace) -> None:
    from proxy.api import SecretBox, get_user

    if not args.key_stdin:
        raise CLIError("pass --key-stdin and pipe the key (keys are never taken as arguments)")
    secret = sys.stdin.readline().strip()
    if not secret:
        raise CLIError("no key on stdin")
    settings = cli_settings()

    async def work() -> None:
        user = await get_user(args.username)
        async with httpx.AsyncClient(timeout=httpx.Timeout(20.0), trust_env=False) as http:
            key = await key_ops.add_key(
                http, SecretBox(settings.secret_bytes), settings.ollama_cloud_url, user.id, args.name, secret,
                preferred=args.preferred,
            )
        await record_action(settings, "ollama_key.added", subject=user.username,
                            target=f"ollama key {key.id} ({key.masked}, {key.name!r})",
                            details="preferred" if args.preferred else "")
        plan = f", plan {key.plan}" if key.plan else ""
        suffix = " (preferred)" if args.preferred else ""
        print(f"added Ollama key {key.name!r} ({key.masked}{plan}) for {user.username}{suffix}")

    asyncio.run(with_database(settings, work))


def cmd_list(args: argparse.Namespace) -> None:
    from proxy.api import SecretBox, get_user

    settings = cli_settings()

    async def work() -> None:
        user = await get_user(args.username)
        views = await key_ops.list_keys(SecretBox(settings.secret_bytes), user.id)
        if not views:
            print(f"{user.username} has no Ollama keys")
            return
        rows: list[tuple[str, ...]] = [("#", "NAME", "KEY", "STATE", "PLAN", "SESSION", "WEEKLY", "MONTHLY", "FIGURES")]
        for view in views:
            state = view.state
            if state == "exhausted":
                until = view.exhausted_until.strftime("%Y-%m-%d %H:%M UTC") if view.exhausted_until else "refresh"
                state = f"exhausted ({view.exhausted_window}) until {until}"
            if view.preferred:
                state += ", preferred"
            figures = view.usage_fetched_at.strftime("%Y-%m-%d %H:%M UTC") if view.usage_fetched_at else "never"
            if view.usage_error:
                figures += f" ({view.usage_error})"
            rows.append(
                (
                    str(view.position + 1), view.name, view.masked, state, view.plan or "-",
                    _fraction(view.session_used), _fraction(view.weekly_used), _fraction(view.monthly_used), figures,
                )
            )
        print_table(rows)

    asyncio.run(with_database(settings, work))


def cmd_remove(args: argparse.Namespace) -> None:
    from proxy.api import get_user

    settings = cli_settings()

    async def work() -> None:
        user = await get_user(args.username)
        key = await key_ops.find_key(user.id, args.label)
        await key_ops.remove_key(user.id, key.id)
        await record_action(settings, "ollama_key.removed", subject=user.username,
                            target=f"ollama key {key.id} ({key.masked}, {key.name!r})")
        print(f"removed Ollama key {key.name!r} of {user.username}")

    asyncio.run(with_database(settings, work))


def add_commands(commands: argparse._SubParsersAction) -> None:
    """``llmgate ollama-key …``, added through the plugin's ``register_commands`` hook."""
    group = commands.add_parser("ollama-key", help="manage users' Ollama Cloud keys").add_subparsers(
        dest="ollama_key_command", required=True, metavar="ACTION"
    )
    add = group.add_parser("add", help="check a key with Ollama Cloud and store it (read from stdin)")
    add.add_argument("username")
    add.add_argument("--name", required=True, help="a label to tell the key apart")
    add.add_argument("--key-stdin", action="store_true", help="read the key from stdin (required)")
    add.add_argument("--preferred", action="store_true", help="route the user's requests to this key first")
    add.set_defaults(func=cmd_add)
    listing = group.add_parser("list", help="a user's keys: masked, order, state, cached figures")
    listing.add_argument("username")
    listing.set_defaults(func=cmd_list)
    remove = group.add_parser("remove", help="remove a user's key by its name")
    remove.add_argument("username")
    remove.add_argument("label")
    remove.set_defaults(func=cmd_remove)
