"""When Ollama Cloud's usage windows reset. ollama.com reports no reset times, so they are estimated:

- session: 5-hour windows counted from the Unix epoch (00:00, 05:00, 10:00 … UTC on 1970-01-01);
- hourly: the next full hour;
- weekly: the next Monday 00:00 UTC;
- monthly: the first of the next month 00:00 UTC.

A moment exactly on a boundary belongs to the window that starts there, so its reset is the next one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

SESSION_SECONDS = 5 * 3600
WINDOW_MINUTES = {"session": 300, "hourly": 60, "weekly": 10080}
KNOWN_WINDOWS = ("session", "hourly", "weekly", "monthly")


def _utc(now: datetime) -> datetime:
    return now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)


def session_reset(now: datetime) -> datetime:
    seconds = int(_utc(now).timestamp() // SESSION_SECONDS + 1) * SESSION_SECONDS
    return datetime.fromtimestamp(seconds, UTC)


def hourly_reset(now: datetime) -> datetime:
    return _utc(now).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def weekly_reset(now: datetime) -> datetime:
    now = _utc(now)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(days=7 - now.weekday())


def monthly_reset(now: datetime) -> datetime:
    now = _utc(now)
    if now.month == 12:
        return datetime(now.year + 1, 1, 1, tzinfo=UTC)
    return datetime(now.year, now.month + 1, 1, tzinfo=UTC)


def window_start(window: str, now: datetime) -> datetime | None:
    """Where the window containing ``now`` began (None for an unknown window)."""
    now = _utc(now)
    if window == "session":
        return session_reset(now) - timedelta(seconds=SESSION_SECONDS)
    if window == "hourly":
        return hourly_reset(now) - timedelta(hours=1)
    if window == "weekly":
        return weekly_reset(now) - timedelta(days=7)
    if window == "monthly":
        return datetime(now.year, now.month, 1, tzinfo=UTC)
    return None


def reset_after(window: str, now: datetime) -> datetime | None:
    """The estimated end of ``window`` containing ``now``; None when the window is unknown."""
    if window == "session":
        return session_reset(now)
    if window == "hourly":
        return hourly_reset(now)
    if window == "weekly":
        return weekly_reset(now)
    if window == "monthly":
        return monthly_reset(now)
    return None


def window_minutes(window: str, now: datetime) -> int | None:
    """The window's length in minutes (a month's length depends on the month)."""
    if window == "monthly":
        start = window_start("monthly", now)
        assert start is not None
        return int((monthly_reset(now) - start).total_seconds() // 60)
    return WINDOW_MINUTES.get(window)
