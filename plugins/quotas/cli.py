"""``llmgate user set-quota``: an operator's way to set a user's token quotas."""

from __future__ import annotations

import argparse
import asyncio

from proxy.api import CLIError, cli_settings, record_action, with_database


def _tokens(raw: str) -> int | None:
    """A whole number >= 0 (0: unlimited), or "default" for the configured default."""
    if raw == "default":
        return None
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number or 'default': {raw!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (unlimited) or more")
    return value


def _shown(value: int | None, default: int) -> str:
    if value is None:
        return f"default ({'unlimited' if default == 0 else f'{default:,}'})"
    return "unlimited" if value == 0 else f"{value:,}"


def cmd_set_quota(args: argparse.Namespace) -> None:
    from plugins.quotas import NAME, QuotaSettings, set_user_quota
    from plugins.quotas.models import UserQuota
    from proxy.api import get_user

    if args.daily_tokens is _UNSET and args.monthly_tokens is _UNSET:
        raise CLIError("pass --daily-tokens and/or --monthly-tokens")
    settings = cli_settings()
    defaults = QuotaSettings.from_table(settings.plugin(NAME))

    async def work() -> None:
        user = await get_user(args.username)
        current = await UserQuota.filter(user_id=user.id).first()
        daily = current.daily_tokens if current else None
        monthly = current.monthly_tokens if current else None
        if args.daily_tokens is not _UNSET:
            daily = args.daily_tokens
        if args.monthly_tokens is not _UNSET:
            monthly = args.monthly_tokens
        await set_user_quota(user.id, daily, monthly)
        await record_action(
            settings, "quota.set", subject=user.username,
            details=f"daily {_shown(daily, defaults.daily_tokens)}, monthly {_shown(monthly, defaults.monthly_tokens)}",
        )  # fmt: skip
        print(
            f"{user.username}: daily {_shown(daily, defaults.daily_tokens)} tokens, "
            f"monthly {_shown(monthly, defaults.monthly_tokens)} tokens "
            "(running gateways use it within 10 s)"
        )

    asyncio.run(with_database(settings, work))


_UNSET: object = object()


def add_commands(groups: dict[str, argparse._SubParsersAction]) -> None:
    quota = groups["user"].add_parser(
        "set-quota", help="set a user's token quotas (0: unlimited, 'default': the configured default)"
    )
    quota.add_argument("username")
    quota.add_argument("--daily-tokens", type=_tokens, default=_UNSET, metavar="N", help="tokens per UTC day")
    quota.add_argument("--monthly-tokens", type=_tokens, default=_UNSET, metavar="N", help="tokens per UTC month")
    quota.set_defaults(func=cmd_set_quota)
