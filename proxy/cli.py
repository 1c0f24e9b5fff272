"""The ``llmgate`` command. Errors are one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from typing import TYPE_CHECKING

from config.settings import Settings, SettingsError
from proxy import __version__
from proxy.accounts import AccountError
from proxy.cli_support import CLIError, cli_settings, print_table, record_action, with_database

if TYPE_CHECKING:
    from proxy.runner import HookRunner


def _settings() -> Settings:
    return cli_settings()


def _mode_names(settings: Settings) -> list[str]:
    from proxy.plugin_host import build_runner

    runner, _ = build_runner(settings)
    return sorted(runner.modes)


# --- commands ---------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> None:
    # Workers are separate processes that build their own settings: hand them the flags.
    for flag, variable in (("host", "LLMGATE_HOST"), ("port", "LLMGATE_PORT"), ("workers", "LLMGATE_WORKERS")):
        value = getattr(args, flag)
        if value is not None:
            os.environ[variable] = str(value)
    settings = _settings()
    from proxy.server import serve

    serve(settings)


def cmd_migrate(args: argparse.Namespace) -> None:
    from proxy.plugin_host import build_runner, model_apps
    from proxy.storage.database import migrate

    settings = _settings()
    runner, _ = build_runner(settings)
    applied = asyncio.run(migrate(settings.database_url, plugin_apps=model_apps(runner)))
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))


def cmd_makemigrations(args: argparse.Namespace) -> None:
    """The core's migrations and those of the built-in plugins (third-party plugins ship their own)."""
    from proxy.plugin_host import DEFAULT_PLUGINS, build_runner, model_apps
    from proxy.storage.database import core_app, default_postgres_placeholder, make_migrations

    plugin_apps = model_apps(build_runner(_settings())[0])
    built_in = [app for app in plugin_apps if app.name in DEFAULT_PLUGINS]
    for app in (core_app(), *built_in):
        for url in ("sqlite://:memory:", default_postgres_placeholder()):
            created = asyncio.run(make_migrations(url, args.name, app=app, plugin_apps=plugin_apps))
            print(f"{app.name} {url.split(':', 1)[0]}: {created or 'no changes'}")


def cmd_plugins(args: argparse.Namespace) -> None:
    from proxy.plugin_host import app_tables, build_runner, model_apps

    settings = _settings()
    runner, infos = build_runner(settings)
    tables = {app.name: app_tables(app) for app in model_apps(runner)}
    commands: dict[str, list[str]] = args.plugin_commands or {}
    rows = [("NAME", "STATE", "VERSION", "SOURCE", "HOOKS", "COMMANDS", "TABLES")]
    for info in infos:
        state = "enabled" if info.enabled else "disabled"
        if info.essential:
            state += " (essential)"
        rows.append(
            (
                info.name, state, info.version, info.source, ", ".join(info.hooks) or "-",
                ", ".join(commands.get(info.name, ())) or "-", ", ".join(tables.get(info.name, ())) or "-",
            )
        )
    print_table(rows)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        if not sys.stdin.isatty():
            raise CLIError("no terminal to prompt on; pass --password-stdin and pipe the password")
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise CLIError("the passwords differ")
    if not password:
        raise CLIError("empty password")
    return password


def cmd_user_create(args: argparse.Namespace) -> None:
    from proxy.accounts import create_user

    settings = _settings()
    password = _read_password(args)

    async def work() -> None:
        user = await create_user(args.username, password, is_admin=args.admin)
        await record_action(settings, "user.created", subject=user.username, details="admin" if user.is_admin else "")
        print(f"created user {user.username}" + (" (admin)" if user.is_admin else ""))

    asyncio.run(with_database(settings, work))


def cmd_user_approve(args: argparse.Namespace) -> None:
    from proxy.accounts import get_user

    settings = _settings()

    async def work() -> None:
        user = await get_user(args.username)
        user.approved = True
        await user.save(update_fields=["approved"])
        await record_action(settings, "user.approved", subject=user.username)
        print(f"approved user {user.username}")

    asyncio.run(with_database(settings, work))


def cmd_user_set_model(args: argparse.Namespace) -> None:
    from proxy.accounts import get_user, set_selected_model

    settings = _settings()

    async def work() -> None:
        user = await get_user(args.username)
        await set_selected_model(user.id, args.model)
        print(f"{user.username} now uses model {args.model}")

    asyncio.run(with_database(settings, work))


def cmd_api_key_create(args: argparse.Namespace) -> None:
    from proxy.accounts import create_api_key, get_user, key_label

    settings = _settings()
    modes = _mode_names(settings)
    if args.mode not in modes:
        raise CLIError(f"unknown mode {args.mode!r}; this server has: {', '.join(modes)}")

    async def work() -> None:
        user = await get_user(args.username)
        api_key, secret = await create_api_key(user, args.mode, args.name or "")
        await record_action(settings, "api_key.created", subject=user.username, target=key_label(api_key))
        print(f"created {api_key.mode} key {api_key.name!r} ({api_key.prefix}…) for {user.username}")
        print("the secret is shown only now:", file=sys.stderr)
        print(secret)

    asyncio.run(with_database(settings, work))


def cmd_api_key_list(args: argparse.Namespace) -> None:
    from proxy.storage.models import ApiKey

    settings = _settings()

    async def work() -> None:
        query = ApiKey.all().select_related("user").order_by("id")
        if args.username:
            from proxy.accounts import get_user

            query = query.filter(user=await get_user(args.username))
        rows = [("PREFIX", "USER", "NAME", "MODE", "CREATED", "LAST USED", "STATE")]
        for key in await query:
            rows.append(
                (
                    key.prefix,
                    key.user.username,
                    key.name,
                    key.mode,
                    key.created_at.strftime("%Y-%m-%d %H:%M"),
                    key.last_used_at.strftime("%Y-%m-%d %H:%M") if key.last_used_at else "never",
                    "revoked" if key.revoked_at else "active",
                )
            )
        print_table(rows)

    asyncio.run(with_database(settings, work))


def cmd_api_key_revoke(args: argparse.Namespace) -> None:
    from proxy.accounts import key_label, revoke_api_key
    from proxy.storage.models import ApiKey

    settings = _settings()
    prefix = args.prefix.rstrip("…")
    if len(prefix) < 6:
        raise CLIError("give at least 6 characters of the key's prefix (see 'llmgate api-key list')")

    async def work() -> None:
        matches = await ApiKey.filter(prefix__startswith=prefix)
        if not matches:
            raise CLIError(f"no API key starts with {prefix!r}")
        if len(matches) > 1:
            raise CLIError(f"{len(matches)} keys start with {prefix!r}; give more of the prefix")
        await revoke_api_key(matches[0], settings.redis_url)
        owner = await matches[0].user
        await record_action(settings, "api_key.revoked", subject=owner.username, target=key_label(matches[0]))
        within = "a second" if settings.redis_url else f"{settings.auth_cache_seconds:g} s"
        print(f"revoked {matches[0].prefix}…; running gateways refuse it within {within}")

    asyncio.run(with_database(settings, work))


def build_parser(runner: HookRunner | None = None) -> argparse.ArgumentParser:
    """The core's commands, and those of ``runner``'s plugins (``register_commands``)."""
    parser = argparse.ArgumentParser(prog="llmgate", description="Multi-user gateway between LLM clients and Ollama.")
    parser.add_argument("--version", action="version", version=f"llmgate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="migrate the database, then run the gateway")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.set_defaults(func=cmd_serve)

    commands.add_parser("migrate", help="bring the database schema up to date").set_defaults(func=cmd_migrate)
    make = commands.add_parser("makemigrations", help="(developers) write migrations for model changes")
    make.add_argument("--name", default="update")
    make.set_defaults(func=cmd_makemigrations)
    commands.add_parser("plugins", help="list plugins: state, hooks, commands, tables").set_defaults(func=cmd_plugins)

    user = commands.add_parser("user", help="manage users").add_subparsers(dest="user_command", required=True, metavar="ACTION")
    create = user.add_parser("create", help="create a user (prompts for the password)")
    create.add_argument("username")
    create.add_argument("--admin", action="store_true")
    create.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    create.set_defaults(func=cmd_user_create)
    approve = user.add_parser("approve", help="let an account registered for approval create API keys")
    approve.add_argument("username")
    approve.set_defaults(func=cmd_user_approve)
    set_model = user.add_parser("set-model", help="choose the model that serves a user's requests")
    set_model.add_argument("username")
    set_model.add_argument("model")
    set_model.set_defaults(func=cmd_user_set_model)

    api_key = commands.add_parser("api-key", help="manage API keys").add_subparsers(dest="key_command", required=True, metavar="ACTION")
    key_create = api_key.add_parser("create", help="create a key; its secret is printed once, on the last line")
    key_create.add_argument("username")
    key_create.add_argument("--mode", required=True)
    key_create.add_argument("--name")
    key_create.set_defaults(func=cmd_api_key_create)
    key_list = api_key.add_parser("list", help="list keys (never their secrets)")
    key_list.add_argument("username", nargs="?")
    key_list.set_defaults(func=cmd_api_key_list)
    revoke = api_key.add_parser("revoke", help="revoke a key by its prefix")
    revoke.add_argument("prefix")
    revoke.set_defaults(func=cmd_api_key_revoke)

    groups = {"user": user, "api-key": api_key}
    parser.set_defaults(plugin_commands=_add_plugin_commands(runner, commands, groups) if runner else {})
    return parser


def _add_plugin_commands(
    runner: HookRunner, commands: argparse._SubParsersAction, groups: dict[str, argparse._SubParsersAction]
) -> dict[str, list[str]]:
    """Let each enabled plugin add its commands; returns the names each one added."""
    added: dict[str, list[str]] = {}
    arguments = {"subparsers": commands, "groups": groups}
    for impl in runner.plan("register_commands", scoped=False).impls:
        before = {(None, name) for name in commands.choices}
        before |= {(group, name) for group, actions in groups.items() for name in actions.choices}
        impl.function(*[arguments[name] for name in impl.argnames])
        after = {(None, name) for name in commands.choices}
        after |= {(group, name) for group, actions in groups.items() for name in actions.choices}
        added[impl.plugin] = sorted(" ".join(filter(None, pair)) for pair in after - before)
    return added


def _plugin_runner() -> tuple[HookRunner | None, SettingsError | None]:
    """The plugins whose commands the command line offers; none when the settings are unreadable."""
    from proxy.plugin_host import build_runner

    try:
        runner, _ = build_runner(cli_settings())
    except SettingsError as exc:
        return None, exc
    return runner, None


CORE_COMMANDS = frozenset({"serve", "migrate", "makemigrations", "plugins", "user", "api-key"})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    runner, settings_error = _plugin_runner()
    requested = next((arg for arg in argv if not arg.startswith("-")), None)
    if settings_error is not None and requested is not None and requested not in CORE_COMMANDS:
        # A plugin's command cannot be offered without the settings that say which plugins run.
        print(f"llmgate: error: {settings_error}", file=sys.stderr)
        return 1
    parser = build_parser(runner)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (CLIError, SettingsError, AccountError) as exc:
        print(f"llmgate: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # database unreachable, disk full: one line, not a traceback
        print(f"llmgate: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
