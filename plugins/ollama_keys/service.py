"""``state.services["ollama_keys"]``: the per-worker service behind the hooks, the dashboard and the CLI."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cachetools import TTLCache
from tortoise.expressions import Q

from plugins.ollama_keys import keys, resources
from plugins.ollama_keys.candidates import KeyDirectory, preferred_key_id
from plugins.ollama_keys.models import OllamaKey, UpstreamAttempt

if TYPE_CHECKING:
    from config.settings import Settings
    from proxy.api import AppState

log = logging.getLogger("llmgate")


@dataclass(frozen=True, slots=True)
class Options:
    """``[plugins.ollama_keys]`` in the settings file."""

    # When every key of a user is exhausted or invalid: false → 429 usage_limit_reached;
    # true → the shared upstream serves the request instead.
    shared_fallback: bool = False
    list_cache_seconds: float = 3.0
    probe_wait_seconds: float = 3.0
    quota_header_modes: tuple[str, ...] = ("emulator",)

    @classmethod
    def from_settings(cls, settings: Settings) -> Options:
        raw, default = settings.plugin("ollama_keys"), cls()
        return cls(
            shared_fallback=bool(raw.get("shared_fallback", default.shared_fallback)),
            list_cache_seconds=float(raw.get("list_cache_seconds", default.list_cache_seconds)),
            probe_wait_seconds=float(raw.get("probe_wait_seconds", default.probe_wait_seconds)),
            quota_header_modes=tuple(raw.get("quota_header_modes", default.quota_header_modes)),
        )


class AttemptBuffer:
    """Failed attempts, written in batches off the request path."""

    def __init__(self) -> None:
        self.pending: list[UpstreamAttempt] = []

    async def flush(self) -> None:
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        await UpstreamAttempt.bulk_create(pending)
        latest: dict[int, UpstreamAttempt] = {}
        for attempt in pending:
            if attempt.ollama_key_id is not None:  # type: ignore[attr-defined]
                latest[attempt.ollama_key_id] = attempt  # type: ignore[attr-defined]
        for key_id, attempt in latest.items():
            status = f"{attempt.status} " if attempt.status is not None else ""
            await OllamaKey.filter(id=key_id).update(
                last_error=f"{status}{attempt.message}".strip(), last_error_at=attempt.created_at
            )


class OllamaKeysService:
    def __init__(self, state: AppState, options: Options) -> None:
        self.state = state
        self.options = options
        self.cloud_url = state.settings.ollama_cloud_url
        self.directory = KeyDirectory(
            state.secret_box, self.cloud_url, options.list_cache_seconds, options.probe_wait_seconds
        )
        self.attempts = AttemptBuffer()
        self._refreshing: set[int] = set()
        # key id -> next time a refresh is allowed, as last read from the database.
        self._next_fetch: TTLCache[int, datetime] = TTLCache(maxsize=50_000, ttl=resources.REFRESH_SECONDS)

    # --- for pages (the dashboard) ---------------------------------------------------------

    async def list_keys(self, user_id: int, *, refresh: bool = False) -> list[keys.KeyView]:
        """The user's keys with state and cached figures; ``refresh``: start background refreshes
        of stale figures (never waited for; the next page load shows them)."""
        views = await keys.list_keys(self.state.secret_box, user_id)
        if refresh:
            now = datetime.now(UTC)
            for view in views:
                if view.usage_next_fetch_at is None or view.usage_next_fetch_at <= now:
                    self.request_refresh(view.id)
        return views

    async def add(self, user_id: int, name: str, secret: str, *, preferred: bool = False) -> OllamaKey:
        """Check the key against /api/me and store it; raises ``OllamaKeyError`` with the reason."""
        key = await keys.add_key(
            self.state.http, self.state.secret_box, self.cloud_url, user_id, name, secret, preferred=preferred
        )
        self._changed(user_id, preferred=preferred)
        return key

    async def remove(self, user_id: int, key_id: int) -> None:
        await keys.remove_key(user_id, key_id)
        self._changed(user_id, preferred=True)

    async def preferred_key(self, user_id: int) -> OllamaKey | None:
        """The key the user's requests go to first; None: the shared upstream serves them."""
        key_id = await preferred_key_id(user_id)
        return await OllamaKey.filter(id=key_id, user_id=user_id).first() if key_id is not None else None

    async def make_preferred(self, user_id: int, key_id: int | None) -> None:
        """``key_id`` None: no preferred key, the shared upstream serves the user."""
        await keys.set_preferred(user_id, key_id)
        self._changed(user_id, preferred=True)

    async def move_up(self, user_id: int, key_id: int) -> None:
        await keys.move_key(user_id, key_id, -1)
        self._changed(user_id)

    async def move_down(self, user_id: int, key_id: int) -> None:
        await keys.move_key(user_id, key_id, +1)
        self._changed(user_id)

    async def recheck(self, user_id: int, key_id: int) -> str | None:
        """The owner's re-check: None when /api/me accepts the key (its invalid mark is cleared)."""
        key = await keys.get_key(user_id, key_id)
        reason = await keys.recheck_key(self.state.http, self.state.secret_box, self.cloud_url, user_id, key_id)
        if reason is None:
            self.directory.clear_marks(key_id, key.account_id)
        self._changed(user_id)
        return reason

    async def attempts_for(self, user_id: int, limit: int = 50) -> list[UpstreamAttempt]:
        await self.attempts.flush()
        return await keys.recent_attempts(user_id, limit)

    def request_refresh(self, key_id: int) -> bool:
        """Start a background refresh of one key's figures if due; True when one was started."""
        now = datetime.now(UTC)
        due = self._next_fetch.get(key_id)
        if key_id in self._refreshing or (due is not None and due > now):
            return False
        self._refreshing.add(key_id)
        self.state.spawn(self._refresh(key_id))
        return True

    # --- internals ---------------------------------------------------------------------------

    def _changed(self, user_id: int, *, preferred: bool = False) -> None:
        # The preference is cached with the key list: other workers follow within list_cache_seconds.
        self.directory.forget(user_id)

    async def _refresh(self, key_id: int) -> None:
        try:
            await resources.refresh(self.state.http, self.state.secret_box, self.cloud_url, key_id)
            await self._after_refresh(key_id)
        finally:
            self._refreshing.discard(key_id)

    async def _after_refresh(self, key_id: int) -> None:
        row = await OllamaKey.filter(id=key_id).first()
        if row is None:
            return
        if row.usage_next_fetch_at is not None:
            self._next_fetch[key_id] = row.usage_next_fetch_at
        if row.exhausted_since is None and row.invalid_since is None:
            self.directory.clear_marks(key_id, row.account_id)
        self.directory.forget(row.user_id)  # type: ignore[attr-defined]

    async def periodic(self) -> None:
        """Every minute: drop stale overlay marks; refresh exhausted keys whose period allows it."""
        self.directory.prune()
        now = datetime.now(UTC)
        due = Q(usage_next_fetch_at__isnull=True) | Q(usage_next_fetch_at__lte=now)
        ids = await OllamaKey.filter(due, exhausted_since__isnull=False).limit(20).values_list("id", flat=True)
        for key_id in ids:
            if key_id not in self._refreshing:
                self._refreshing.add(key_id)
                await self._refresh(key_id)

    # --- marks, written through to the database -----------------------------------------------

    async def store_exhausted(
        self, key_id: int, account_id: str | None, now: datetime, until: datetime | None, window: str, message: str
    ) -> None:
        scope = Q(id=key_id) | Q(account_id=account_id) if account_id else Q(id=key_id)
        # A new exhaustion starts now; one still running keeps its start.
        fresh = Q(exhausted_since__isnull=True) | Q(exhausted_until__lte=now)
        await OllamaKey.filter(scope).filter(fresh).update(exhausted_since=now)
        await OllamaKey.filter(scope).update(exhausted_until=until, exhausted_window=window)
        await OllamaKey.filter(id=key_id).update(last_error=message, last_error_at=now)

    async def store_invalid(self, key_id: int, now: datetime, message: str) -> None:
        await OllamaKey.filter(id=key_id, invalid_since__isnull=True).update(invalid_since=now)
        await OllamaKey.filter(id=key_id).update(last_error=message, last_error_at=now)

    async def clear_lapsed(self, key_id: int, account_id: str | None, now: datetime) -> None:
        """A key answered well after its window passed: drop the stale exhausted fields."""
        scope = Q(id=key_id) | Q(account_id=account_id) if account_id else Q(id=key_id)
        await OllamaKey.filter(scope).filter(exhausted_until__lte=now).update(
            exhausted_since=None, exhausted_until=None, exhausted_window=None
        )
