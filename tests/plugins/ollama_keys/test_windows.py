"""Reset-time arithmetic at the windows' edges (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from plugins.ollama_keys import windows


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "reset"),
    [
        ("1970-01-01T00:00:00", "1970-01-01T05:00:00"),  # on a boundary: that window runs 5 hours
        ("1970-01-01T04:59:59.999999", "1970-01-01T05:00:00"),
        ("1970-01-01T05:00:00", "1970-01-01T10:00:00"),
        # Days are not multiples of 5 hours: boundaries drift across midnight.
        # 2026-11-25 has boundaries at 02, 07, 12, 17 and 22 h UTC.
        ("2026-11-25T21:59:59", "2026-11-25T22:00:00"),
        ("2026-11-25T22:00:00", "2026-11-26T03:00:00"),
        ("2026-12-31T23:30:00", "2027-01-01T04:00:00"),
    ],
)
def test_session_resets_on_five_hour_boundaries_from_the_epoch(now: str, reset: str) -> None:
    assert windows.session_reset(at(now)) == at(reset)
    assert windows.session_reset(at(now)).timestamp() % (5 * 3600) == 0


@pytest.mark.parametrize(
    ("now", "reset"),
    [
        ("2026-11-23T00:00:00", "2026-11-30T00:00:00"),  # Monday midnight: a new week just began
        ("2026-11-22T23:59:59.999999", "2026-11-23T00:00:00"),  # Sunday night
        ("2026-11-25T12:00:00", "2026-11-30T00:00:00"),
        ("2026-12-28T00:00:01", "2027-01-04T00:00:00"),  # across the year
    ],
)
def test_weekly_resets_next_monday_midnight_utc(now: str, reset: str) -> None:
    assert windows.weekly_reset(at(now)) == at(reset)
    assert windows.weekly_reset(at(now)).weekday() == 0


@pytest.mark.parametrize(
    ("now", "reset"),
    [
        ("2026-01-31T23:59:59", "2026-02-01T00:00:00"),
        ("2026-02-01T00:00:00", "2026-03-01T00:00:00"),
        ("2026-12-15T08:00:00", "2027-01-01T00:00:00"),
        ("2028-02-29T12:00:00", "2028-03-01T00:00:00"),
    ],
)
def test_monthly_resets_on_the_first(now: str, reset: str) -> None:
    assert windows.monthly_reset(at(now)) == at(reset)


def test_other_timezones_are_converted_not_misread() -> None:
    plus_two = datetime(2026, 11, 23, 1, 0, tzinfo=UTC).astimezone(__import__("datetime").timezone(timedelta(hours=2)))
    assert windows.weekly_reset(plus_two) == at("2026-11-30T00:00:00")


def test_window_lengths_and_starts() -> None:
    now = at("2026-02-10T12:00:00")
    assert windows.window_minutes("session", now) == 300
    assert windows.window_minutes("weekly", now) == 10080
    assert windows.window_minutes("monthly", now) == 28 * 1440
    assert windows.window_start("weekly", now) == at("2026-02-09T00:00:00")
    assert windows.window_start("session", now) == windows.session_reset(now) - timedelta(hours=5)
    assert windows.reset_after("unknown", now) is None
    assert windows.reset_after("hourly", at("2026-02-10T12:00:00")) == at("2026-02-10T13:00:00")
