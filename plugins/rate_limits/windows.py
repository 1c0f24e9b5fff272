"""Sliding-window counters, and what the client is told about them.

The algorithm is the ``limits`` library's sliding window counter, which both backends run inline,
step for step (the instance's table in ``local.py``, the Redis script in ``shared.py``): a window
of ``period`` seconds aligned to the clock, the previous window's count weighted by how much of it
still overlaps the last ``period`` seconds, plus the current window's count. A request
is admitted while ``floor(weighted) + 1 <= limit``. Both backends describe a window by the same
four figures the ``limits`` library does: previous count, seconds until the previous window stops
counting, current count, seconds until the current window stops counting.
"""

from __future__ import annotations

import math


class Window:
    """One scope's counts as the four figures describe them. A plain class: made twice per scope and
    request, a frozen dataclass's ``__init__`` alone cost a fifth of the limit check."""

    __slots__ = ("current", "current_expires_in", "limit", "period", "previous", "previous_expires_in")

    def __init__(
        self, limit: int, period: float, previous: int, previous_expires_in: float, current: int, current_expires_in: float
    ) -> None:
        self.limit = limit
        self.period = period
        self.previous = previous
        self.previous_expires_in = previous_expires_in
        self.current = current
        self.current_expires_in = current_expires_in

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Window) and self._figures() == other._figures()

    def __repr__(self) -> str:
        return "Window(limit={}, period={}, previous={}, previous_expires_in={}, current={}, current_expires_in={})".format(
            *self._figures()
        )

    def _figures(self) -> tuple[int, float, int, float, int, float]:
        return (self.limit, self.period, self.previous, self.previous_expires_in, self.current, self.current_expires_in)

    @property
    def weighted(self) -> float:
        return self.previous * self.previous_expires_in / self.period + self.current

    @property
    def remaining(self) -> int:
        return max(0, self.limit - math.floor(self.weighted))

    @property
    def reset_seconds(self) -> float:
        """Until the window is back to its initial state (OpenAI's x-ratelimit-reset-requests)."""
        if self.current:
            return self.current_expires_in
        return self.previous_expires_in if self.previous else 0.0

    @property
    def retry_after(self) -> float:
        """Until one more request would be admitted."""
        if self.weighted < self.limit:
            return 0.0
        if self.current < self.limit and self.previous:
            # The previous window's weight falls linearly to zero over previous_expires_in.
            return max(0.0, self.previous_expires_in - (self.limit - self.current) * self.period / self.previous)
        # The current window alone is full: once it ends it becomes the previous one, then decays.
        ends_in = self.current_expires_in - self.period
        return ends_in + max(0.0, self.period - self.limit * self.period / max(1, self.current))


def window_at(now: float, period: float, limit: int, window_index: int, previous: int, current: int) -> Window:
    """The figures for counts last written in ``window_index``, seen at ``now``."""
    index = int(now // period)
    if index != window_index:
        previous = current if index == window_index + 1 else 0
        current = 0
    return counted(limit, period, time_left(now, period), previous, current)


def time_left(now: float, period: float) -> float:
    """Seconds until the window ``now`` falls in ends."""
    return (1 - (now / period) % 1) * period


def counted(limit: int, period: float, left: float, previous: int, current: int) -> Window:
    """A window's figures from the counts of this window and the one before, ``left`` seconds before
    this one ends (both backends' hits, and ``window_at``)."""
    return Window(limit, period, previous, left if previous else 0.0, current, left + period)


def duration_text(seconds: float) -> str:
    """OpenAI's (Go's) duration format: "20ms", "1s", "6m0s", "1h2m3s"."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
