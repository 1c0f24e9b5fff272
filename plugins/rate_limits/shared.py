"""Limits held in Redis, so they hold across every worker of every instance.

Request rates are the sliding window counter of ``windows.py``, the one the instance's own table
(``local.py``) runs: one hash per scope holds the window index of its counts and the previous and
current window's counts. One script does a request's whole check, on Redis's own clock and for all
its scopes at once: it reads each scope's counts, admits only if every scope has room, counts the
request in each when admitted (all or none), and returns the clock and the counts the headers need.
It replaced four calls of the ``limits`` library's storage API (count, then read the figures, for
the key and for the user): four round trips of 30-70 µs of redis-py CPU each, and a scope that
admitted kept its count when the other refused.

Concurrent streams are leases: one sorted set per key or user,
a member per open stream scored with its expiry time (Redis's own clock, so instances with
skewed clocks agree). A worker renews the leases it holds every ``LEASE_SECONDS / 3``; a worker
that crashes stops renewing, and its slots come back after at most ``LEASE_SECONDS``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import redis.asyncio as aioredis

from plugins.rate_limits.windows import Window, counted, time_left

PREFIX = "llmgate:limits"
LEASE_SECONDS = 60
# A Redis that does not answer in this long is treated as gone: requests must not wait on it.
TIMEOUT_SECONDS = 0.5

# KEYS: one hash per scope (w: window index of the counts, p: previous window's, c: current's).
# ARGV: the period in seconds, then each scope's limit. The arithmetic is ``windows.window_at``'s
# and ``LocalLimits.hit``'s step for step, with Python's float semantics (``//`` and ``%`` are
# fmod-based there), so both backends admit and report alike. Returns admitted (1/0), TIME's
# seconds and microseconds, then each scope's previous and current count before this request.
_HIT = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local period = tonumber(ARGV[1])
local div = (now - math.fmod(now, period)) / period
local index = math.floor(div)
if div - index > 0.5 then index = index + 1 end
local left = (1 - math.fmod(now / period, 1)) * period
local weight = left / period
local reply = {1, time[1], time[2]}
for i, key in ipairs(KEYS) do
  local stored = redis.call('HMGET', key, 'w', 'p', 'c')
  local written = tonumber(stored[1])
  local previous, current = 0, 0
  if written == index then
    previous, current = tonumber(stored[2]), tonumber(stored[3])
  elseif written == index - 1 then
    previous = tonumber(stored[3])
  end
  if previous * weight + current >= tonumber(ARGV[i + 1]) then reply[1] = 0 end
  reply[2 + 2 * i] = previous
  reply[3 + 2 * i] = current
end
if reply[1] == 1 then
  for i, key in ipairs(KEYS) do
    redis.call('HSET', key, 'w', index, 'p', reply[2 + 2 * i], 'c', reply[3 + 2 * i] + 1)
    redis.call('PEXPIRE', key, math.ceil(period * 2000))
  end
end
return reply
"""

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


def rate_key(name: str) -> str:
    return f"{PREFIX}:rate:{name}"


class RedisLimits:
    """The Redis side; every method raises on a Redis failure (the caller falls back)."""

    def __init__(self, url: str) -> None:
        options = {"socket_timeout": TIMEOUT_SECONDS, "socket_connect_timeout": TIMEOUT_SECONDS}
        self.client = aioredis.Redis.from_url(url, **options)
        self._hit = self.client.register_script(_HIT)
        self._open = self.client.register_script(_OPEN_LEASE)
        self._renew = self.client.register_script(_RENEW_LEASES)
        self._lease_prefix = f"{os.getpid()}:{os.urandom(4).hex()}:"
        self._serial = 0
        # lease id -> the sorted sets it is in, renewed while the stream lasts.
        self.leases: dict[str, tuple[str, ...]] = {}

    async def ping(self) -> None:
        await self.client.ping()

    async def hit(self, scopes: Sequence[tuple[str, int]], period: float) -> tuple[list[Window], bool]:
        """Count one request against each ``(name, limit per period)``, all or none, in one round trip.

        Returns every scope's window (after the hit when admitted) and whether it was admitted,
        the figures ``LocalLimits.hit`` gives for the same counts at the same time.
        """
        reply = await self._hit(keys=[rate_key(name) for name, _ in scopes], args=[period, *(lim for _, lim in scopes)])
        admitted = reply[0] == 1
        now = int(reply[1]) + int(reply[2]) / 1000000
        left = time_left(now, period)
        added = 1 if admitted else 0
        windows = []
        for position, (_, limit) in enumerate(scopes):
            previous, current = reply[3 + 2 * position], reply[4 + 2 * position]
            windows.append(counted(limit, period, left, previous, current + added))
        return windows, admitted

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
