"""Per-user running token totals for the current day and month, shared by workers (and instances).

A total is seeded once per user and period from the usage table (one summing query), then kept
up to date by adding each finished request's tokens, so admission never queries the database.
Adding only touches a total that is already seeded: a total that is missing (a restart, an
evicted slot, a new period) is seeded again from the usage table, which by then holds those
tokens, so nothing is counted twice.

Where the totals live: without Redis, in a table in memory that every worker of the instance
maps (the same ``SharedTable`` the rate limits use, a table of its own); with ``LLMGATE_REDIS_URL``,
in Redis (``SET NX`` to seed, ``INCRBY`` only when the key exists, expiring after its period), so
every instance agrees. A Redis that stops answering falls back to the instance's table.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from plugins.quotas.periods import Period
from plugins.rate_limits import REDIS_ERRORS
from plugins.rate_limits.local import SharedTable

log = logging.getLogger("llmgate")
PREFIX = "llmgate:quota"
_IDENT, _PERIOD, _TOTAL = range(3)
FIELDS = 3
PROBES = 16

# KEYS: totals (the day's and the month's). ARGV[1]: tokens. Adds only to seeded totals.
_ADD_IF_SEEDED = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('INCRBY', key, ARGV[1]) end
end
return 0
"""


def _ident(user_id: int, period: Period) -> int:
    return (period.kind << 48) | (user_id & ((1 << 48) - 1))


class LocalTotals:
    """Totals in a ``SharedTable``; a slot holds (user and period kind, period index, total)."""

    def __init__(self, table: SharedTable) -> None:
        self.cells = memoryview(table.cells).cast("B").cast("q")
        self.lock = table.lock
        self.slots = len(self.cells) // FIELDS

    def _slot(self, ident: int, index: int, claim: bool) -> int | None:
        cells = self.cells
        start = hash(ident) % self.slots
        free: int | None = None
        for step in range(PROBES):
            base = ((start + step) % self.slots) * FIELDS
            held = cells[base + _IDENT]
            if held == ident and cells[base + _PERIOD] == index:
                return base
            # Empty, or a total of an earlier period of the same kind (anyone's): free again.
            stale = held >> 48 == ident >> 48 and cells[base + _PERIOD] < index
            if free is None and (held == 0 or stale):
                free = base
        if free is None or not claim:
            return None
        cells[free + _IDENT], cells[free + _PERIOD], cells[free + _TOTAL] = ident, index, 0
        return free

    def get(self, user_id: int, period: Period) -> int | None:
        with self.lock:
            slot = self._slot(_ident(user_id, period), period.index, claim=False)
            return None if slot is None else self.cells[slot + _TOTAL]

    def seed(self, user_id: int, period: Period, total: int) -> int:
        with self.lock:
            ident = _ident(user_id, period)
            slot = self._slot(ident, period.index, claim=False)
            if slot is not None:
                return self.cells[slot + _TOTAL]  # another worker seeded it first
            slot = self._slot(ident, period.index, claim=True)
            if slot is not None:
                self.cells[slot + _TOTAL] = total
            return total  # a full table keeps nothing: the next request seeds again

    def add(self, user_id: int, period: Period, tokens: int) -> None:
        with self.lock:
            slot = self._slot(_ident(user_id, period), period.index, claim=False)
            if slot is not None:
                self.cells[slot + _TOTAL] += tokens


class RedisTotals:
    """Totals in Redis; every method raises on a Redis failure (the caller falls back)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._add = client.register_script(_ADD_IF_SEEDED)

    @staticmethod
    def key(user_id: int, period: Period) -> str:
        return f"{PREFIX}:{period.name}:{period.index}:{user_id}"

    @staticmethod
    def _ttl(period: Period) -> int:
        return int((period.end - period.start).total_seconds()) + 86400

    async def get_many(self, user_id: int, periods: Sequence[Period]) -> list[int | None]:
        raws = await self.client.mget([self.key(user_id, period) for period in periods])
        return [None if raw is None else int(raw) for raw in raws]

    async def seed(self, user_id: int, period: Period, total: int) -> int:
        key = self.key(user_id, period)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(key, total, nx=True, ex=self._ttl(period))
            pipe.get(key)
            _, raw = await pipe.execute()
        return total if raw is None else int(raw)

    async def add_many(self, user_id: int, periods: Sequence[Period], tokens: int) -> None:
        await self._add(keys=[self.key(user_id, period) for period in periods], args=[tokens])


class Totals:
    """Redis when configured and answering, else the instance's table."""

    def __init__(self, local: LocalTotals, redis_client: Any = None) -> None:
        self.local = local
        self.redis = RedisTotals(redis_client) if redis_client is not None else None
        self.redis_up = self.redis is not None

    def _lost(self, exc: BaseException) -> None:
        if self.redis_up:
            self.redis_up = False
            log.warning("Redis is not answering (%s); token quotas are counted per instance", type(exc).__name__)

    async def probe(self) -> None:
        """Runs every second while Redis is configured: goes back to it once it answers."""
        if self.redis is not None and not self.redis_up:
            try:
                await self.redis.client.ping()
            except REDIS_ERRORS:
                return
            self.redis_up = True

    async def _seed(self, user_id: int, period: Period, total: int) -> int:
        if self.redis is not None and self.redis_up:
            try:
                return await self.redis.seed(user_id, period, total)
            except REDIS_ERRORS as exc:
                self._lost(exc)
        return self.local.seed(user_id, period, total)

    async def used_many(
        self, user_id: int, periods: Sequence[Period], summed: Callable[[Period], Awaitable[int]]
    ) -> list[int]:
        """The user's tokens in each of ``periods``: one read for all of them (one Redis round
        trip, or the instance's table without awaiting); ``summed(period)`` seeds a missing one."""
        found: list[int | None] | None = None
        if self.redis is not None and self.redis_up:
            try:
                found = await self.redis.get_many(user_id, periods)
            except REDIS_ERRORS as exc:
                self._lost(exc)
        if found is None:
            found = [self.local.get(user_id, period) for period in periods]
        return [
            value if value is not None else await self._seed(user_id, period, int(await summed(period)))
            for period, value in zip(periods, found, strict=True)
        ]

    async def add_many(self, user_id: int, periods: Sequence[Period], tokens: int) -> None:
        """Add to each seeded total of ``periods``: one Redis call for all of them."""
        if self.redis is not None and self.redis_up:
            try:
                await self.redis.add_many(user_id, periods, tokens)
                return
            except REDIS_ERRORS as exc:
                self._lost(exc)
        for period in periods:
            self.local.add(user_id, period, tokens)
