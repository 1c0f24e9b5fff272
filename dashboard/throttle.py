"""Slows down repeated failed sign-ins, per account and per client address.

After ``free_failures`` failures within ``window`` seconds, each further attempt must wait
``2 ** (failures - free_failures)`` seconds (capped at ``max_delay``) after the last failure; an
attempt made sooner is refused without checking the password, so guessing costs time rather than
CPU. Successful sign-in clears the account's record.

Bounds: the records live in this worker's memory (cachetools TTL caches of ``maxsize`` entries
each, forgotten ``window`` seconds after the last failure). With N workers an attacker gets at
most N times the attempts; when the cache is full the oldest records are evicted first. Addresses
are allowed more failures than accounts because many people may share one (NAT, offices).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache


@dataclass
class _Record:
    failures: int = 0
    last_failure: float = 0.0


class SignInThrottle:
    def __init__(
        self,
        *,
        account_free_failures: int = 5,
        address_free_failures: int = 20,
        max_delay: float = 300.0,
        window: float = 900.0,
        maxsize: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.account_free = account_free_failures
        self.address_free = address_free_failures
        self.max_delay = max_delay
        self.clock = clock
        self.accounts: TTLCache[str, _Record] = TTLCache(maxsize=maxsize, ttl=window, timer=clock)
        self.addresses: TTLCache[str, _Record] = TTLCache(maxsize=maxsize, ttl=window, timer=clock)

    def _wait(self, record: _Record | None, free: int) -> float:
        if record is None or record.failures < free:
            return 0.0
        delay = min(self.max_delay, 2.0 ** (record.failures - free))
        return max(0.0, record.last_failure + delay - self.clock())

    def retry_after(self, account: str, address: str) -> float:
        """Seconds until a sign-in attempt for ``account`` from ``address`` may be checked (0: now)."""
        return max(
            self._wait(self.accounts.get(account.lower()), self.account_free),
            self._wait(self.addresses.get(address), self.address_free),
        )

    def failed(self, account: str, address: str) -> None:
        now = self.clock()
        for cache, key in ((self.accounts, account.lower()), (self.addresses, address)):
            record = cache.get(key) or _Record()
            record.failures += 1
            record.last_failure = now
            cache[key] = record  # re-inserting restarts the record's TTL

    def succeeded(self, account: str) -> None:
        self.accounts.pop(account.lower(), None)
