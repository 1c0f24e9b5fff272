"""Abuse limits: request rate and concurrent streams, per API key and per user. On by default.

Configured under ``[plugins.rate_limits]`` (0 switches one limit off; see config/llmgate.toml for
the defaults and why they are what they are):

    requests_per_minute_per_key    sliding window of one minute per API key
    requests_per_minute_per_user   the same across all of a user's keys
    concurrent_streams_per_key     streaming requests open at once
    concurrent_streams_per_user    the same across all of a user's keys

A refused request is a 429 in the OpenAI error shape with ``Retry-After`` (whole seconds) and
never reaches the upstream. Every admitted or refused request carries OpenAI's
``x-ratelimit-limit-requests``, ``x-ratelimit-remaining-requests`` and
``x-ratelimit-reset-requests`` for the tightest request limit (the one with the fewest left).

Where the counts live: with ``LLMGATE_REDIS_URL`` set, in Redis (``shared.py``), so every limit
holds across all workers and instances. Without it, in memory that every worker of the instance
shares (``local.py``), so limits hold exactly within one instance and each instance counts on
its own. When Redis stops answering, each worker falls back to the instance's own counts, logs
a warning, counts the fallback in ``/metrics`` (``llmgate_redis_up`` 0), and goes back to Redis
by itself once it answers again.

The check is an ``admit_request`` implementation (after authentication, mode resolution and
body parsing, before the mode builds anything). A streaming request counts as a request first,
then takes a stream slot; the slot is released in ``request_finished``, which also runs when the
client goes away mid-stream or a later admission rule refuses. ``GET /v1/models`` is not limited
(answered from a cache).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError
from sanic import Sanic

from config.settings import Settings, SettingsError
from plugins.rate_limits.local import SCOPE_KEY, SCOPE_USER, LocalLimits, SharedTable, identity
from plugins.rate_limits.windows import Window, duration_text
from proxy.api import AppState, Principal, RateLimited, RequestContext, hookimpl

NAME = "rate_limits"
_TABLE = "rate_limits.table"  # state.services: the table the main process shared, if any
_HELD = "rate_limits.held"  # ctx.meta: the stream slots this request holds
PERIOD = 60.0
PROBE_SECONDS = 1.0
log = logging.getLogger("llmgate")
# What a Redis that went away raises (through redis-py, or the socket).
REDIS_ERRORS = (RedisError, OSError, TimeoutError)


@dataclass(frozen=True)
class Limits:
    requests_per_minute_per_key: int = 0
    requests_per_minute_per_user: int = 0
    concurrent_streams_per_key: int = 0
    concurrent_streams_per_user: int = 0

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> Limits:
        if "burst" in table:
            raise SettingsError(
                "plugins.rate_limits.burst is gone: limits are a sliding window of one minute, which admits "
                "up to the per-minute figure at once. Remove it."
            )
        unknown = sorted(set(table) - set(cls.__dataclass_fields__))
        if unknown:
            raise SettingsError(f"plugins.rate_limits has unknown keys: {', '.join(unknown)}")
        values: dict[str, int] = {}
        for name in cls.__dataclass_fields__:
            raw = table.get(name, 0)
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
                raise SettingsError(f"plugins.rate_limits.{name} must be a whole number >= 0 (0: no limit), not {raw!r}")
            values[name] = raw
        return cls(**values)

    @property
    def active(self) -> bool:
        return any(getattr(self, name) for name in self.__dataclass_fields__)


def _labelled(limit_pairs: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    return [(label, ident, limit) for label, ident, limit in limit_pairs if limit]


class RateLimiter:
    """Admits or refuses one request; Redis when it answers, the instance's own table otherwise."""

    def __init__(self, limits: Limits, local: LocalLimits, redis_url: str = "") -> None:
        self.limits = limits
        self.local = local
        self.redis: Any = None
        if redis_url:
            from plugins.rate_limits.shared import RedisLimits

            self.redis = RedisLimits(redis_url)
        self.redis_up = self.redis is not None
        self.fallbacks = 0

    # --- Redis health -------------------------------------------------------------------

    def _lost(self, exc: BaseException) -> None:
        if self.redis_up:
            self.redis_up = False
            self.fallbacks += 1
            log.warning(
                "Redis is not answering (%s); rate and stream limits are counted per instance until it is back",
                type(exc).__name__,
            )

    async def probe(self) -> None:
        """Runs every second: goes back to Redis once it answers; renews stream leases."""
        if self.redis is None:
            return
        if not self.redis_up:
            try:
                await self.redis.ping()
            except REDIS_ERRORS:
                return
            self.redis_up = True
            log.warning("Redis answers again; rate and stream limits are shared across instances again")

    async def renew(self) -> None:
        if self.redis is not None and self.redis_up:
            try:
                await self.redis.renew()
            except REDIS_ERRORS as exc:
                self._lost(exc)

    # --- requests ------------------------------------------------------------------------

    async def admit(self, principal: Principal, wants_stream: bool) -> tuple[dict[str, str], Any]:
        """The x-ratelimit headers and the held stream slots; raises RateLimited with the headers."""
        limits = self.limits
        rates = _labelled([
            ("API key", identity(SCOPE_KEY, principal.api_key_id), limits.requests_per_minute_per_key),
            ("user", identity(SCOPE_USER, principal.user_id), limits.requests_per_minute_per_user),
        ])  # fmt: skip
        headers: dict[str, str] = {}
        if rates:
            windows, admitted = await self._hit(rates)
            tightest = min(windows, key=lambda w: (w.remaining, -w.reset_seconds))
            headers = {
                "x-ratelimit-limit-requests": str(tightest.limit),
                "x-ratelimit-remaining-requests": str(tightest.remaining),
                "x-ratelimit-reset-requests": duration_text(tightest.reset_seconds),
            }
            if not admitted:
                raise _rate_refusal(rates, windows, headers)
        held: Any = None
        if wants_stream:
            streams = _labelled([
                ("API key", identity(SCOPE_KEY, principal.api_key_id), limits.concurrent_streams_per_key),
                ("user", identity(SCOPE_USER, principal.user_id), limits.concurrent_streams_per_user),
            ])  # fmt: skip
            if streams:
                full, held = await self._open_streams(streams)
                if full is not None:
                    label, _, limit = streams[full]
                    raise RateLimited(
                        f"Too many streams at once: this {label} may have {limit} open. Wait for one to finish.",
                        code="concurrency_limit_exceeded",
                        headers={**headers, "retry-after": "1"},
                    )
        return headers, held

    async def _hit(self, rates: list[tuple[str, int, int]]) -> tuple[list[Window], bool]:
        if self.redis_up:
            try:
                return await self.redis.hit([(_scope_name(ident), limit) for _, ident, limit in rates], PERIOD)
            except REDIS_ERRORS as exc:
                self._lost(exc)
        return self.local.hit([(ident, limit) for _, ident, limit in rates], PERIOD)

    async def _open_streams(self, streams: list[tuple[str, int, int]]) -> tuple[int | None, Any]:
        if self.redis_up:
            try:
                full, lease = await self.redis.open_streams([(_scope_name(i), limit) for _, i, limit in streams])
                return full, (None if full is not None else ("redis", lease))
            except REDIS_ERRORS as exc:
                self._lost(exc)
        idents = [ident for _, ident, _ in streams]
        full = self.local.open_streams([(ident, limit) for _, ident, limit in streams])
        return full, (None if full is not None else ("local", idents))

    async def release(self, held: tuple[str, Any]) -> None:
        where, token = held
        if where == "local":
            self.local.close_streams(token)
            return
        try:
            await self.redis.close_streams(token)
        except REDIS_ERRORS as exc:
            # The lease is no longer renewed, so Redis frees the slot within LEASE_SECONDS.
            self.redis.leases.pop(token, None)
            self._lost(exc)

    def metric_lines(self) -> list[str]:
        if self.redis is None:
            return []
        return [
            "# HELP llmgate_redis_up Whether this worker's last use of Redis for limits succeeded (0: per-instance).",
            "# TYPE llmgate_redis_up gauge",
            f"llmgate_redis_up {1 if self.redis_up else 0}",
            "# HELP llmgate_redis_fallbacks_total Times this worker fell back to per-instance limits.",
            "# TYPE llmgate_redis_fallbacks_total counter",
            f"llmgate_redis_fallbacks_total {self.fallbacks}",
        ]


def _scope_name(ident: int) -> str:
    scope, number = divmod(ident, 1 << 48)
    return f"{'key' if scope == SCOPE_KEY else 'user'}:{number}"


def _rate_refusal(rates: list[tuple[str, int, int]], windows: list[Window], headers: dict[str, str]) -> RateLimited:
    full = [(label, limit, w) for (label, _, limit), w in zip(rates, windows, strict=True) if w.retry_after > 0]
    label, limit, window = max(full, key=lambda f: f[2].retry_after) if full else (rates[0][0], rates[0][2], windows[0])
    retry_after = max(1, math.ceil(window.retry_after))
    return RateLimited(
        f"Rate limit reached: this {label} may make {limit} requests per minute. Try again in {retry_after} s.",
        headers={**headers, "retry-after": str(retry_after)},
    )


def limiter(state: AppState) -> RateLimiter:
    return state.services[NAME]


@hookimpl
def register_routes(app: Sanic, settings: Settings) -> None:
    # The main process makes the table before it starts the workers, which all map it.
    async def share_table(app: Sanic) -> None:
        app.shared_ctx.rate_limit_table = SharedTable.create(shared=True)

    async def pick_up_table(app: Sanic) -> None:
        table = getattr(app.shared_ctx, "rate_limit_table", None)
        if table is not None:
            app.ctx.state.services[_TABLE] = table

    if settings.workers > 1:  # one worker keeps a table of its own
        app.register_listener(share_table, "main_process_start")
        app.register_listener(pick_up_table, "before_server_start")


@hookimpl(trylast=True)  # after the metrics plugin's start-up, which it adds a section to
def startup(state: AppState) -> None:
    table = state.services.get(_TABLE) or SharedTable.create(shared=False)
    found = state.services[NAME] = RateLimiter(
        Limits.from_table(state.settings.plugin(NAME)), LocalLimits(table), state.settings.redis_url
    )
    if found.redis is not None:
        state.every(PROBE_SECONDS, found.probe)
        state.every(20.0, found.renew)
    metrics = state.services.get("metrics")
    if metrics is not None and hasattr(metrics, "sections"):
        metrics.sections[NAME] = found.metric_lines


@hookimpl
async def shutdown(state: AppState) -> None:
    found: RateLimiter | None = state.services.get(NAME)
    if found is not None and found.redis is not None:
        await found.redis.close()


def _wants_stream(ctx: RequestContext) -> bool:
    # Both API modes take the OpenAI "stream" flag; the mode's own check comes right after.
    return bool(ctx.body) and ctx.body.get("stream") is True  # type: ignore[union-attr]


@hookimpl
async def admit_request(ctx: RequestContext) -> RateLimited | None:
    principal = ctx.principal
    found: RateLimiter | None = ctx.state.services.get(NAME)
    if principal is None or found is None or not found.limits.active:
        return None
    try:
        headers, held = await found.admit(principal, _wants_stream(ctx))
    except RateLimited as refusal:
        ctx.response_headers.update({k: v for k, v in refusal.headers.items() if k.startswith("x-ratelimit-")})
        return refusal
    ctx.response_headers.update(headers)
    if held is not None:
        ctx.meta[_HELD] = held
    return None


@hookimpl
async def request_finished(ctx: RequestContext) -> None:
    held = ctx.meta.pop(_HELD, None)
    if held is not None:
        await limiter(ctx.state).release(held)
