"""Quota periods: the UTC calendar day and month, each numbered so a counter knows its period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DAY, MONTH = 1, 2


@dataclass(frozen=True, slots=True)
class Period:
    kind: int  # DAY or MONTH
    index: int  # days since the epoch, or year * 12 + month - 1
    start: datetime
    end: datetime

    @property
    def name(self) -> str:
        return "daily" if self.kind == DAY else "monthly"


def day_of(now: datetime) -> Period:
    start = datetime(now.year, now.month, now.day, tzinfo=UTC)
    return Period(DAY, (start - datetime(1970, 1, 1, tzinfo=UTC)).days, start, start + timedelta(days=1))


def month_of(now: datetime) -> Period:
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
    return Period(MONTH, now.year * 12 + now.month - 1, start, end)


def in_words(seconds: float) -> str:
    """How long until a reset, for a person: "3h 12m", "14d 2h", "45s"."""
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"
