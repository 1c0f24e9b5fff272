"""Limits held in memory that every worker of one instance shares.

One table of int64 cells, created by the main process before it starts the workers
(``multiprocessing.RawArray``) and guarded by one ``multiprocessing.Lock``; the critical section
is a few array reads and writes, so the lock is held for microseconds and never across an
``await``. No database round trip, no IPC: the workers read and write the same pages.

Each slot holds one scope (an API key or a user): its identity, the window index of its counts,
the previous and current window's counts, and its open streams. Slots are found by hashing the
identity and probing a few neighbours; a slot whose counts have aged out and which holds no
stream is free again. If every probed slot is taken (far more active keys than slots), the
request is admitted rather than refused: the table must never lock out a legitimate user.

Used in a single process too (tests, ``workers = 1`` without Sanic's manager), with a
process-local table and lock. Slots held by a worker that crashes are not given back until the
instance restarts; the Redis backend's leases do not have that limit.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from plugins.rate_limits.windows import Window, counted, time_left

SLOTS = 1 << 15
PROBES = 16
_IDENT, _WINDOW, _PREVIOUS, _CURRENT, _STREAMS = range(5)
FIELDS = 5
SCOPE_KEY, SCOPE_USER = 1, 2


def identity(scope: int, ident: int) -> int:
    return (scope << 48) | (ident & ((1 << 48) - 1))


@dataclass
class SharedTable:
    """What the main process hands to its workers (picklable for Sanic's ``shared_ctx``)."""

    cells: Any
    lock: Any

    @classmethod
    def create(cls, *, shared: bool) -> SharedTable:
        if shared:
            return cls(multiprocessing.RawArray("q", SLOTS * FIELDS), multiprocessing.Lock())
        return cls(bytearray(SLOTS * FIELDS * 8), threading.Lock())


class LocalLimits:
    """Sliding-window request counts and stream counts in a ``SharedTable``."""

    def __init__(self, table: SharedTable, clock: Callable[[], float] = time.time) -> None:
        self.cells = memoryview(table.cells).cast("B").cast("q")
        self.lock = table.lock
        self.clock = clock

    def _slot(self, ident: int, now_index: int, claim: bool) -> int | None:
        cells = self.cells
        start = hash(ident) % SLOTS
        free: int | None = None
        for step in range(PROBES):
            base = ((start + step) % SLOTS) * FIELDS
            held = cells[base + _IDENT]
            if held == ident:
                return base
            if free is None and (held == 0 or (cells[base + _STREAMS] <= 0 and cells[base + _WINDOW] < now_index - 1)):
                free = base
        if free is None or not claim:
            return None
        cells[free : free + FIELDS] = memoryview(bytearray(FIELDS * 8)).cast("q")
        cells[free + _IDENT] = ident
        cells[free + _WINDOW] = now_index
        return free

    def hit(self, scopes: Sequence[tuple[int, int]], period: float) -> tuple[list[Window], bool]:
        """Count one request against each ``(identity, limit)``, all or none.

        Returns every scope's window (after the hit when admitted) and whether it was admitted.
        The figures are those of ``windows.window_at``, worked out inline: this runs per request.
        """
        now = self.clock()
        index = int(now // period)
        left = time_left(now, period)
        weight = left / period  # how much of the previous window still counts
        cells = self.cells
        counts: list[tuple[int | None, int, int, int]] = []
        admitted = True
        with self.lock:
            for ident, limit in scopes:
                slot = self._slot(ident, index, claim=True)
                previous = current = 0
                if slot is not None:
                    written = cells[slot + _WINDOW]
                    if written == index:
                        previous, current = cells[slot + _PREVIOUS], cells[slot + _CURRENT]
                    elif written == index - 1:
                        previous = cells[slot + _CURRENT]
                if previous * weight + current >= limit:
                    admitted = False
                counts.append((slot, limit, previous, current))
            if admitted:
                for slot, _, previous, current in counts:
                    if slot is not None:
                        cells[slot + _WINDOW] = index
                        cells[slot + _PREVIOUS] = previous
                        cells[slot + _CURRENT] = current + 1
        added = 1 if admitted else 0
        return [counted(limit, period, left, previous, current + added) for _, limit, previous, current in counts], admitted

    def open_streams(self, scopes: Sequence[tuple[int, int]]) -> int | None:
        """Take a stream slot in each ``(identity, limit)``; the index of the full one, or None."""
        index = int(self.clock() // 60)
        cells = self.cells
        with self.lock:
            slots = [self._slot(ident, index, claim=True) for ident, _ in scopes]
            for position, (slot, (_, limit)) in enumerate(zip(slots, scopes, strict=True)):
                if slot is not None and cells[slot + _STREAMS] >= limit:
                    return position
            for slot in slots:
                if slot is not None:
                    cells[slot + _STREAMS] += 1
        return None

    def close_streams(self, idents: Sequence[int]) -> None:
        index = int(self.clock() // 60)
        cells = self.cells
        with self.lock:
            for ident in idents:
                slot = self._slot(ident, index, claim=False)
                if slot is not None and cells[slot + _STREAMS] > 0:
                    cells[slot + _STREAMS] -= 1

    def streams(self, ident: int) -> int:
        slot = self._slot(ident, int(self.clock() // 60), claim=False)
        return 0 if slot is None else self.cells[slot + _STREAMS]
