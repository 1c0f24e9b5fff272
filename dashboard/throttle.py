"""Throttles for sign-in, registration and password change that hold under parallel guessing.

An attempt takes its slot *before* the password is checked: one atomic statement per attempt
(an INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING, the same SQL on SQLite and
PostgreSQL) counts it and, once ``free`` attempts are used within ``window`` seconds, blocks the
key for 1, 2, 4 ... seconds (at most ``max_delay``) after each further attempt. While a key is
blocked the statement updates nothing and the attempt is refused without a check, so N guesses
sent at once get at most ``free`` password checks and the rest are refused with Retry-After.

The counters live in the database (table ``auth_throttle``), so they hold across workers and
instances. A key is a rule's name and an account name or a client address (IPv6 addresses by
their /64, the block one subscriber usually has). Rows are forgotten ``window`` seconds after
their last attempt (``forget_old``, run periodically).

Sign-in counts per account and per address; a successful sign-in clears the account and gives
back its own slot at the address, so per address only failures accumulate (many people may
share one address behind NAT, hence its larger allowance).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from config.settings import SettingsError
from dashboard.models import AuthThrottle

KEY_LENGTH = 128


@dataclass(frozen=True)
class Rule:
    """What is counted (``name``) and how many attempts are free within the window."""

    name: str
    free: int


def address_key(address: str) -> str:
    """The throttle's name for a client address: IPv6 by its /64, anything else as given."""
    bare = address.strip().strip("[]")
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        return bare or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _key(rule: Rule, value: str) -> str:
    key = f"{rule.name}:{value}"
    if len(key) > KEY_LENGTH:  # a long username: keep keys bounded and distinct
        key = f"{rule.name}:sha256:{hashlib.sha256(value.encode(errors='surrogateescape')).hexdigest()}"
    return key


# ?1/$1 key, ?2 now, ?3 free, ?4 start of the window, ?5 max delay. SET expressions read the
# row as it was before this statement on both databases.
_FRESH = "auth_throttle.updated_at < {4}"
_ATTEMPTS = f"CASE WHEN {_FRESH} THEN 1 ELSE auth_throttle.attempts + 1 END"
_DELAY = (
    f"CASE WHEN {_ATTEMPTS} < {{3}} THEN 0"
    f" WHEN {_FRESH} OR auth_throttle.delay = 0 THEN 1"
    " WHEN auth_throttle.delay * 2 > {5} THEN {5}"
    " ELSE auth_throttle.delay * 2 END"
)
TAKE_SQL = f"""
INSERT INTO auth_throttle ("key", attempts, delay, blocked_until, updated_at)
VALUES ({{1}}, 1, CASE WHEN 1 < {{3}} THEN 0 ELSE 1 END, {{2}} + CASE WHEN 1 < {{3}} THEN 0 ELSE 1 END, {{2}})
ON CONFLICT ("key") DO UPDATE SET
    attempts = {_ATTEMPTS},
    delay = {_DELAY},
    blocked_until = {{2}} + {_DELAY},
    updated_at = {{2}}
WHERE auth_throttle.blocked_until <= {{2}}
RETURNING attempts
"""
# Gives back one attempt's slot; below the free allowance again, the key is not blocked.
GIVE_BACK_SQL = """
UPDATE auth_throttle SET
    attempts = attempts - 1,
    delay = CASE WHEN attempts - 1 < {2} THEN 0 ELSE delay END,
    blocked_until = CASE WHEN attempts - 1 < {2} THEN 0 ELSE blocked_until END
WHERE "key" = {1} AND attempts > 0
"""
BLOCKED_UNTIL_SQL = 'SELECT blocked_until FROM auth_throttle WHERE "key" = {1}'
CLEAR_SQL = 'DELETE FROM auth_throttle WHERE "key" = {1}'
FORGET_SQL = "DELETE FROM auth_throttle WHERE updated_at < {1}"


TEXT, INTEGER, SECONDS = "VARCHAR(128)", "INTEGER", "DOUBLE PRECISION"
TAKE_TYPES = (TEXT, SECONDS, INTEGER, SECONDS, SECONDS)


def _placeholders(sql: str, dialect: str, types: tuple[str, ...]) -> str:
    """Numbered parameters (SQLite's ?N and asyncpg's $N both allow reuse), typed for PostgreSQL."""
    mark = "?" if dialect == "sqlite" else "$"
    return sql.format("", *(f"CAST({mark}{n} AS {kind})" for n, kind in enumerate(types, start=1)))


class Throttle:
    def __init__(
        self, *, window: float = 900.0, max_delay: float = 300.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.window = window
        self.max_delay = max_delay
        self.clock = clock

    async def _execute(self, sql: str, types: tuple[str, ...], *values: object) -> list[dict[str, object]]:
        connection = AuthThrottle._meta.db
        query = _placeholders(sql, connection.capabilities.dialect, types)
        # execute_query_dict: tortoise's asyncpg execute_query drops the rows of INSERT ... RETURNING.
        return await connection.execute_query_dict(query, list(values))

    async def take(self, rule: Rule, value: str) -> float:
        """Count an attempt before it is checked: 0 if it may go ahead, else seconds to wait."""
        now = self.clock()
        key = _key(rule, value)
        window_start = now - self.window
        rows = await self._execute(TAKE_SQL, TAKE_TYPES, key, now, rule.free, window_start, self.max_delay)
        if rows:
            return 0.0
        blocked = await self._execute(BLOCKED_UNTIL_SQL, (TEXT,), key)
        until = float(blocked[0]["blocked_until"]) if blocked else now + 1  # type: ignore[arg-type]
        return max(1.0, math.ceil(until - now))

    async def give_back(self, rule: Rule, value: str) -> None:
        """Return an attempt's slot (it turned out not to count: a success, or refused elsewhere)."""
        await self._execute(GIVE_BACK_SQL, (TEXT, INTEGER), _key(rule, value), rule.free)

    async def clear(self, rule: Rule, value: str) -> None:
        await self._execute(CLEAR_SQL, (TEXT,), _key(rule, value))

    async def forget_old(self) -> None:
        await self._execute(FORGET_SQL, (SECONDS,), self.clock() - self.window - self.max_delay)



@dataclass(frozen=True)
class DashboardThrottles:
    """The dashboard's rules, from ``[plugins.dashboard]``."""

    throttle: Throttle
    signin_account: Rule
    signin_address: Rule
    registration_address: Rule
    password_account: Rule

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> DashboardThrottles:
        def positive(name: str, default: int) -> int:
            value = int(options.get(name, default))
            if value < 1:
                raise SettingsError(f"plugins.dashboard.{name} must be 1 or more")
            return value

        account_free = positive("signin_free_failures", 5)
        return cls(
            throttle=Throttle(window=float(options.get("throttle_window_seconds", 900.0))),
            signin_account=Rule("signin-account", account_free),
            signin_address=Rule("signin-address", positive("signin_free_failures_per_address", 20)),
            registration_address=Rule("register-address", positive("registrations_per_address", 5)),
            password_account=Rule("password-account", account_free),
        )
