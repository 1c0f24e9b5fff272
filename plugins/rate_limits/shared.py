"""Limits held in Redis, so they hold across every worker of every instance.

Request rates use the ``limits`` library's sliding window counter on its Redis storage, through
its public API only (each count atomic in Redis; a request's counts and the reads for its headers
run concurrently). Concurrent streams are leases: one sorted set per key or user,
a member per open stream scored with its expiry time (Redis's own clock, so instances with
skewed clocks agree). A worker renews the leases it holds every ``LEASE_SECONDS / 3``; a worker
that crashes stops renewing, and its slots come back after at most ``LEASE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

import redis.asyncio as aioredis
from limits import RateLimitItemPerMinute
from limits.aio.storage import RedisStorage

from plugins.rate_limits.windows import Window

PREFIX = "llmgate:limits"
LEASE_SECONDS = 60
# A Redis that does not answer in this long is treated as gone: requests must not wait on it.
TIMEOUT_SECONDS = 0.5

# KEYS: one sorted set per scope. ARGV: lease id, lease seconds, then each scope's limit.
# Returns 0 when a slot was taken in every set, else the (1-based) index of the full one.
_OPEN_LEASE = """
local now = redis.call('TIME')
local now_s = tonumber(now[1]) + tonumber(now[2]) / 1000000
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now_s)
  if redis.call('ZCARD', key) >= tonumber(ARGV[2 + i]) then return i end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now_s + tonumber(ARGV[2]), ARGV[1])
  redis.call('EXPIRE', key, tonumber(ARGV[2]) * 2)
end
return 0
"""

_RENEW_LEASES = """
local now = redis.call('TIME')
local expires = tonumber(now[1]) + tonumber(now[2]) / 1000000 + tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', expires, ARGV[i + 1])
  redis.call('EXPIRE', key, tonumber(ARGV[1]) * 2)
end
return 0
"""


def scope_key(name: str) -> str:
    return f"{PREFIX}:streams:{name}"


class RedisLimits:
    """The Redis side; every method raises on a Redis failure (the caller falls back)."""

    def __init__(self, url: str) -> None:
        options = {"socket_timeout": TIMEOUT_SECONDS, "socket_connect_timeout": TIMEOUT_SECONDS}
        self.client = aioredis.Redis.from_url(url, **options)
        # One connection pool for the library's scripts and ours.
        self.storage = RedisStorage(
            "async+" + url, implementation="redispy", key_prefix=PREFIX, wrap_exceptions=True,
            connection_pool=self.client.connection_pool,
        )  # fmt: skip
        self._open = self.client.register_script(_OPEN_LEASE)
        self._renew = self.client.register_script(_RENEW_LEASES)
        self._lease_prefix = f"{os.getpid()}:{os.urandom(4).hex()}:"
        self._serial = 0
        # lease id -> the sorted sets it is in, renewed while the stream lasts.
        self.leases: dict[str, tuple[str, ...]] = {}

    async def ping(self) -> None:
        await self.client.ping()

    async def hit(self, scopes: Sequence[tuple[str, int]]) -> tuple[list[Window], bool]:
        """Count one request against each ``(name, per-minute limit)``; the windows, and whether admitted.

        Each scope's check and count is atomic; when one scope refuses, a scope that admitted
        keeps the count (at most one request's worth, only while the client is being refused).
        """
        items = [(item.key_for(name), item) for name, item in ((n, RateLimitItemPerMinute(lim)) for n, lim in scopes)]
        # The library's public storage API only: each call is atomic in Redis, and the calls of one
        # request run concurrently over the pool.
        admitted = await asyncio.gather(*(self.storage.acquire_sliding_window_entry(
            key, item.amount, item.get_expiry()) for key, item in items))  # fmt: skip
        figures = await asyncio.gather(*(self.storage.get_sliding_window(key, item.get_expiry()) for key, item in items))
        windows = [
            Window(item.amount, float(item.get_expiry()), int(prev), float(prev_in), int(cur), float(cur_in))
            for (_, item), (prev, prev_in, cur, cur_in) in zip(items, figures, strict=True)
        ]
        return windows, all(admitted)

    async def open_streams(self, scopes: Sequence[tuple[str, int]]) -> tuple[int | None, str]:
        """Take a lease in each ``(name, limit)``: (index of the full scope or None, lease id)."""
        self._serial += 1
        lease = f"{self._lease_prefix}{self._serial}"
        keys = tuple(scope_key(name) for name, _ in scopes)
        full = int(await self._open(keys=list(keys), args=[lease, LEASE_SECONDS, *(limit for _, limit in scopes)]))
        if full:
            return full - 1, lease
        self.leases[lease] = keys
        return None, lease

    async def close_streams(self, lease: str) -> None:
        keys = self.leases.pop(lease, ())
        if keys:
            async with self.client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.zrem(key, lease)
                await pipe.execute()

    async def renew(self) -> None:
        for lease, keys in list(self.leases.items()):
            await self._renew(keys=list(keys), args=[LEASE_SECONDS, *([lease] * len(keys))])

    async def streams(self, name: str) -> int:
        return int(await self.client.zcard(scope_key(name)))

    async def close(self) -> None:
        await self.client.aclose()
