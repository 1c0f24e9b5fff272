"""Token quotas per user, per UTC day and month. On by default.

Configured under ``[plugins.quotas]``: ``daily_tokens`` and ``monthly_tokens`` are every user's
quota unless an admin set one for them (dashboard admin page, or ``llmgate user set-quota``);
0 means unlimited. A request's tokens are its input plus output tokens as the upstream reported
them (``ctx.usage``), counted when it finishes.

A user at or over a quota is refused at admission, before anything reaches the upstream or the
client (streams too): 429 with type and code ``insufficient_quota``, a message saying when the
quota resets, ``Retry-After`` and ``resets_at`` (Unix seconds). A request admitted just under the
quota may overshoot it by its own tokens; the next one is refused.

The hot path never queries the database: totals are seeded from the usage table once per user and
period and then kept in memory every worker shares, or in Redis (``totals.py``). Admins' quotas are
read from the plugin's table at start-up and every ``REFRESH_SECONDS`` (at once on the worker that
saved them).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from sanic import Sanic
from tortoise.functions import Sum

from config.settings import Settings, SettingsError
from plugins.quotas.models import UserQuota
from plugins.quotas.periods import Period, day_of, in_words, month_of
from plugins.quotas.totals import LocalTotals, Totals
from plugins.rate_limits.local import SharedTable
from proxy.api import APIError, AppState, PluginModels, RequestContext, UsageRecord, hookimpl

NAME = "quotas"
_TABLE = "quotas.table"  # state.services: the table the main process shared, if any
REFRESH_SECONDS = 10.0
PROBE_SECONDS = 1.0


class QuotaExceeded(APIError):
    status = 429
    type = "insufficient_quota"
    code = "insufficient_quota"


@dataclass(frozen=True)
class QuotaSettings:
    daily_tokens: int = 0
    monthly_tokens: int = 0

    @classmethod
    def from_table(cls, table: Any) -> QuotaSettings:
        unknown = sorted(set(table) - set(cls.__dataclass_fields__))
        if unknown:
            raise SettingsError(f"plugins.quotas has unknown keys: {', '.join(unknown)}")
        values: dict[str, int] = {}
        for name in cls.__dataclass_fields__:
            raw = table.get(name, 0)
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
                raise SettingsError(f"plugins.quotas.{name} must be a whole number >= 0 (0: unlimited), not {raw!r}")
            values[name] = raw
        return cls(**values)


@dataclass(frozen=True)
class QuotaStatus:
    """One of a user's quotas as the dashboard shows it (limit 0: unlimited)."""

    name: str  # "daily" or "monthly"
    limit: int
    used: int
    resets_at: datetime
    custom: bool  # set by an admin rather than the configured default

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


def _periods(now: datetime) -> tuple[Period, Period]:
    return day_of(now), month_of(now)


class Quotas:
    """The plugin's service (``state.services["quotas"]``); the dashboard uses it too."""

    def __init__(self, defaults: QuotaSettings, totals: Totals) -> None:
        self.defaults = defaults
        self.totals = totals
        self.overrides: dict[int, tuple[int | None, int | None]] = {}
        # Today's and this month's periods, made again when the day ends (Unix time): building
        # them on every request was a tenth of what the quota check cost.
        self._periods: tuple[Period, Period] = _periods(datetime.now(UTC))
        self._periods_end = self._periods[0].end.timestamp()

    def periods(self, now: datetime | None = None) -> tuple[Period, Period]:
        """The day and month ``now`` (default: this moment) falls in."""
        if now is not None:
            return _periods(now)
        if time.time() >= self._periods_end:
            self._periods = _periods(datetime.now(UTC))
            self._periods_end = self._periods[0].end.timestamp()
        return self._periods

    async def refresh(self) -> None:
        rows = await UserQuota.all().values_list("user_id", "daily_tokens", "monthly_tokens")
        self.overrides = {user: (daily, monthly) for user, daily, monthly in rows}  # type: ignore[misc]

    def limits(self, user_id: int) -> tuple[int, int]:
        daily, monthly = self.overrides.get(user_id, (None, None))
        return (
            self.defaults.daily_tokens if daily is None else daily,
            self.defaults.monthly_tokens if monthly is None else monthly,
        )

    async def _summed(self, user_id: int, period: Period) -> int:
        """The user's tokens in ``period`` from the usage table (seeds a total)."""
        row = await (
            UsageRecord.filter(user_id=user_id, created_at__gte=period.start, created_at__lt=period.end)
            .annotate(i=Sum("input_tokens"), o=Sum("output_tokens"))
            .first()
            .values("i", "o")
        )
        return int((row or {}).get("i") or 0) + int((row or {}).get("o") or 0)

    async def used(self, user_id: int, period: Period) -> int:
        (found,) = await self.totals.used_many(user_id, (period,), partial(self._summed, user_id))
        return found

    async def check(self, user_id: int, now: datetime | None = None) -> QuotaExceeded | None:
        daily, monthly = self.limits(user_id)
        if not (daily or monthly):
            return None
        day, month = self.periods(now)
        limited = [(period, limit) for period, limit in ((day, daily), (month, monthly)) if limit]
        periods = [period for period, _ in limited]
        totals = await self.totals.used_many(user_id, periods, partial(self._summed, user_id))
        for (period, limit), used in zip(limited, totals, strict=True):
            if used >= limit:
                return _refusal(period, limit, used, now or datetime.now(UTC))
        return None

    async def add(self, user_id: int, tokens: int, now: datetime | None = None) -> None:
        await self.totals.add_many(user_id, self.periods(now), tokens)

    async def status(self, user_id: int) -> list[QuotaStatus]:
        """Both quotas of a user with what is used (seeds the totals when needed)."""
        now = datetime.now(UTC)
        custom = self.overrides.get(user_id, (None, None))
        return [
            QuotaStatus(period.name, limit, await self.used(user_id, period), period.end, override is not None)
            for period, limit, override in zip(_periods(now), self.limits(user_id), custom, strict=True)
        ]

    async def set_quota(self, user_id: int, daily: int | None, monthly: int | None) -> None:
        """Save an admin's quota (None: back to the default) and use it on this worker at once."""
        await set_user_quota(user_id, daily, monthly)
        self.overrides[user_id] = (daily, monthly)


async def set_user_quota(user_id: int, daily: int | None, monthly: int | None) -> None:
    if daily is None and monthly is None:
        await UserQuota.filter(user_id=user_id).delete()
        return
    await UserQuota.update_or_create(
        defaults={"daily_tokens": daily, "monthly_tokens": monthly}, user_id=user_id
    )


def _refusal(period: Period, limit: int, used: int, now: datetime) -> QuotaExceeded:
    seconds = (period.end - now).total_seconds()
    return QuotaExceeded(
        f"You have used your {period.name} token quota ({used:,} of {limit:,} tokens). "
        f"It resets at {period.end:%Y-%m-%d %H:%M} UTC (in {in_words(seconds)}).",
        headers={"retry-after": str(max(1, int(seconds) + 1))},
        extra={"resets_at": int(period.end.timestamp())},
    )


def quotas(state: AppState) -> Quotas:
    return state.services[NAME]


@hookimpl
def register_models() -> PluginModels:
    return PluginModels(modules=("plugins.quotas.models",), migrations=Path(__file__).parent / "migrations")


@hookimpl
def register_commands(groups: dict[str, argparse._SubParsersAction]) -> None:
    from plugins.quotas.cli import add_commands

    add_commands(groups)


@hookimpl
def register_routes(app: Sanic, settings: Settings) -> None:
    # As the rate limits do: the main process makes the table, every worker maps it.
    async def share_table(app: Sanic) -> None:
        app.shared_ctx.quota_table = SharedTable.create(shared=True)

    async def pick_up_table(app: Sanic) -> None:
        table = getattr(app.shared_ctx, "quota_table", None)
        if table is not None:
            app.ctx.state.services[_TABLE] = table

    if settings.workers > 1:
        app.register_listener(share_table, "main_process_start")
        app.register_listener(pick_up_table, "before_server_start")


@hookimpl
async def startup(state: AppState) -> None:
    redis_client = None
    if state.settings.redis_url:
        import redis.asyncio as aioredis

        from plugins.rate_limits.shared import TIMEOUT_SECONDS

        redis_client = aioredis.Redis.from_url(
            state.settings.redis_url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
        )
    table = state.services.get(_TABLE) or SharedTable.create(shared=False)
    found = state.services[NAME] = Quotas(
        QuotaSettings.from_table(state.settings.plugin(NAME)), Totals(LocalTotals(table), redis_client)
    )
    await found.refresh()
    state.every(REFRESH_SECONDS, found.refresh)
    if redis_client is not None:
        state.every(PROBE_SECONDS, found.totals.probe)


@hookimpl
async def shutdown(state: AppState) -> None:
    found: Quotas | None = state.services.get(NAME)
    if found is not None and found.totals.redis is not None:
        await found.totals.redis.client.aclose()


@hookimpl
async def admit_request(ctx: RequestContext) -> QuotaExceeded | None:
    principal = ctx.principal
    found: Quotas | None = ctx.state.services.get(NAME)
    if principal is None or found is None:
        return None
    return await found.check(principal.user_id)


@hookimpl
async def request_finished(ctx: RequestContext) -> None:
    principal = ctx.principal
    found: Quotas | None = ctx.state.services.get(NAME)
    tokens = ctx.usage.input_tokens + ctx.usage.output_tokens
    if principal is not None and found is not None and tokens > 0:
        await found.add(principal.user_id, tokens)
