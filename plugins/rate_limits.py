"""Abuse limits: request rate and concurrent streams, per API key and per user.

Configured under ``[plugins.rate_limits]`` (every limit 0 = off, the default):

    requests_per_minute_per_key   token bucket refilled at this rate; ``burst`` is its size
    requests_per_minute_per_user  the same across all of a user's keys
    burst                         bucket size (0: one minute's worth, i.e. the per-minute limit)
    concurrent_streams_per_key    streaming requests open at once
    concurrent_streams_per_user   the same across all of a user's keys

A refused request is a 429 in the OpenAI error shape with ``Retry-After`` (whole seconds) and
never reaches the upstream. Counts live in the worker's memory: with N workers a client may
get up to N times a limit. They reset when the worker restarts.

The check is an ``admit_request`` implementation (after authentication, mode resolution and
body parsing, before the mode builds anything); a stream's slot is released in
``request_finished``, which also runs when the client goes away mid-stream or a later admission
rule refuses. ``GET /v1/models`` is not limited (answered from a cache).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from config.settings import SettingsError
from proxy.context import RequestContext
from proxy.errors import RateLimited
from proxy.hookspecs import hookimpl
from proxy.state import AppState

NAME = "rate_limits"
PRUNE_SECONDS = 60.0
_HELD = "rate_limits.held"  # ctx.meta: the stream slots this request holds


@dataclass(frozen=True)
class Limits:
    requests_per_minute_per_key: int = 0
    requests_per_minute_per_user: int = 0
    burst: int = 0
    concurrent_streams_per_key: int = 0
    concurrent_streams_per_user: int = 0

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> Limits:
        values: dict[str, int] = {}
        for name in cls.__dataclass_fields__:
            raw = table.get(name, 0)
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
                raise SettingsError(f"plugins.rate_limits.{name} must be a whole number >= 0 (0: no limit), not {raw!r}")
            values[name] = raw
        unknown = sorted(set(table) - set(cls.__dataclass_fields__))
        if unknown:
            raise SettingsError(f"plugins.rate_limits has unknown keys: {', '.join(unknown)}")
        return cls(**values)

    @property
    def active(self) -> bool:
        return any(getattr(self, name) for name in self.__dataclass_fields__ if name != "burst")


@dataclass
class Bucket:
    """A token bucket: ``capacity`` tokens, refilled at ``rate`` per second."""

    capacity: float
    rate: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait_seconds(self) -> float:
        """How long until one token is there (0: there is one now)."""
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


@dataclass
class Limiter:
    limits: Limits
    clock: Callable[[], float] = time.monotonic
    buckets: dict[tuple[str, int], Bucket] = field(default_factory=dict)
    streams: dict[tuple[str, int], int] = field(default_factory=dict)

    def _bucket(self, scope: str, ident: int, per_minute: int, now: float) -> Bucket:
        bucket = self.buckets.get((scope, ident))
        if bucket is None:
            capacity = float(self.limits.burst or per_minute)
            bucket = self.buckets[(scope, ident)] = Bucket(capacity, per_minute / 60.0, capacity, now)
        else:
            bucket.refill(now)
        return bucket

    def take(self, key_id: int, user_id: int) -> Bucket | None:
        """Spend one request from every bucket that applies; raise RateLimited if any is empty.

        Returns the tightest bucket (for the informational headers), None when no rate applies.
        """
        limits, now = self.limits, self.clock()
        scoped = [
            (label, self._bucket(scope, ident, per_minute, now), per_minute)
            for label, scope, ident, per_minute in (
                ("API key", "key", key_id, limits.requests_per_minute_per_key),
                ("user", "user", user_id, limits.requests_per_minute_per_user),
            )
            if per_minute
        ]
        # All buckets are checked before any is spent: a refusal costs nothing.
        for label, bucket, per_minute in scoped:
            wait = bucket.wait_seconds()
            if wait > 0:
                retry_after = max(1, math.ceil(wait))
                raise RateLimited(
                    f"Rate limit reached: this {label} may make {per_minute} requests per minute "
                    f"(bursts of {int(bucket.capacity)}). Try again in {retry_after} s.",
                    headers={"retry-after": str(retry_after)},
                )
        for _, bucket, _ in scoped:
            bucket.tokens -= 1
        return min((b for _, b, _ in scoped), key=lambda b: b.tokens, default=None)

    def open_stream(self, key_id: int, user_id: int) -> list[tuple[str, int]]:
        """Hold a stream slot for the key and the user; raise RateLimited if either is full."""
        limits = self.limits
        slots = [
            (label, (scope, ident), limit)
            for label, scope, ident, limit in (
                ("API key", "key", key_id, limits.concurrent_streams_per_key),
                ("user", "user", user_id, limits.concurrent_streams_per_user),
            )
            if limit
        ]
        for label, slot, limit in slots:
            if self.streams.get(slot, 0) >= limit:
                raise RateLimited(
                    f"Too many streams at once: this {label} may have {limit} open. "
                    "Wait for one to finish.",
                    code="concurrency_limit_exceeded",
                    headers={"retry-after": "1"},
                )
        held = [slot for _, slot, _ in slots]
        for slot in held:
            self.streams[slot] = self.streams.get(slot, 0) + 1
        return held

    def close_streams(self, held: list[tuple[str, int]]) -> None:
        for slot in held:
            left = self.streams.get(slot, 0) - 1
            if left > 0:
                self.streams[slot] = left
            else:
                self.streams.pop(slot, None)

    def prune(self) -> None:
        """Forget buckets that have refilled: a full bucket is the same as no bucket."""
        now = self.clock()
        for key, bucket in list(self.buckets.items()):
            if bucket.tokens + (now - bucket.updated) * bucket.rate >= bucket.capacity:
                del self.buckets[key]


def limiter(state: AppState) -> Limiter:
    return state.services[NAME]


@hookimpl
def startup(state: AppState) -> None:
    found = state.services[NAME] = Limiter(Limits.from_table(state.settings.plugin(NAME)))
    if found.limits.active:
        state.every(PRUNE_SECONDS, _prune(found))


def _prune(found: Limiter) -> Callable[[], Any]:
    async def prune() -> None:
        found.prune()

    return prune


def _wants_stream(ctx: RequestContext) -> bool:
    # Both API modes take the OpenAI "stream" flag; the mode's own check comes right after.
    return bool(ctx.body) and ctx.body.get("stream") is True  # type: ignore[union-attr]


@hookimpl
def admit_request(ctx: RequestContext) -> RateLimited | None:
    principal = ctx.principal
    found: Limiter | None = ctx.state.services.get(NAME)
    if principal is None or found is None or not found.limits.active:
        return None
    try:
        held = found.open_stream(principal.api_key_id, principal.user_id) if _wants_stream(ctx) else []
    except RateLimited as refusal:
        return refusal
    try:
        bucket = found.take(principal.api_key_id, principal.user_id)
    except RateLimited as refusal:
        found.close_streams(held)
        return refusal
    ctx.meta[_HELD] = held
    if bucket is not None:
        ctx.response_headers["x-ratelimit-limit-requests"] = str(int(bucket.capacity))
        ctx.response_headers["x-ratelimit-remaining-requests"] = str(max(0, int(bucket.tokens)))
    return None


@hookimpl
def request_finished(ctx: RequestContext) -> None:
    held = ctx.meta.pop(_HELD, None)
    if held:
        limiter(ctx.state).close_streams(held)
