"""Authenticates ``Authorization: Bearer sk-…`` by the key's hash, through a TTL cache.

A known key costs no database round trip; a revoked key or disabled user stops working within
``security.auth_cache_seconds``, or within a moment on every instance when Redis is configured
(``proxy.auth_events``: revocations are announced there and each worker drops its cache). ``last used`` is written in batches, never on the request path.
Requests that miss the cache together (a crowd of clients of one key starting at once, or just
after its entry expired) wait for one load instead of each querying the database.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime

from proxy.api import (
    ApiKey,
    AppState,
    Principal,
    RequestContext,
    UserSettings,
    hash_api_key,
    hookimpl,
    listen_auth_changes,
)

NAME = "api_key_auth"
FLUSH_SECONDS = 5.0
_LISTENER = "api_key_auth.listener"
_LOADS = "api_key_auth.loads"


class LastUsed:
    """API key id -> last time seen, flushed to the database every few seconds."""

    def __init__(self) -> None:
        self.pending: dict[int, datetime] = {}

    def touch(self, api_key_id: int) -> None:
        self.pending[api_key_id] = datetime.now(UTC)

    async def flush(self) -> None:
        pending, self.pending = self.pending, {}
        written = 0
        try:
            for api_key_id, when in pending.items():
                await ApiKey.filter(id=api_key_id).update(last_used_at=when)
                written += 1
        except BaseException:
            # The database may be restarting: keep what was not written (newer touches win).
            for api_key_id, when in list(pending.items())[written:]:
                self.pending.setdefault(api_key_id, when)
            raise


def bearer_token(ctx: RequestContext) -> str | None:
    header = ctx.request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def load_principal(key_hash: str) -> Principal | None:
    api_key = (
        await ApiKey.filter(key_hash=key_hash, revoked_at=None, user__disabled=False)
        .select_related("user")
        .first()
    )
    if api_key is None:
        return None
    settings = await UserSettings.filter(user_id=api_key.user_id).first()
    return Principal(
        user_id=api_key.user_id,
        username=api_key.user.username,
        api_key_id=api_key.id,
        api_key_prefix=api_key.prefix,
        mode=api_key.mode,
        is_admin=api_key.user.is_admin,
        selected_model=settings.selected_model if settings else None,
    )


class PrincipalLoads:
    """Key hash -> the database load in flight for it, shared by every request that missed the cache.

    Without it, 64 streams of one key starting together after its cache entry expired ran 128
    queries one after another on SQLite's single connection before the last was admitted.
    """

    def __init__(self, state: AppState) -> None:
        self.state = state  # its ``auth_cache``, looked up each time: the metrics plugin swaps it at startup
        # Keyed by the cache's generation too: after a revocation, requests start a load of their own.
        self.pending: dict[tuple[str, int], asyncio.Task[Principal | None]] = {}

    async def load(self, key_hash: str) -> Principal | None:
        loading = (key_hash, self.state.auth_generation)
        task = self.pending.get(loading)
        if task is None:
            task = self.pending[loading] = asyncio.ensure_future(self._load(*loading))
            task.add_done_callback(functools.partial(self._done, loading))
        # Shielded: a client that leaves does not cancel the load the others wait for.
        return await asyncio.shield(task)

    async def _load(self, key_hash: str, generation: int) -> Principal | None:
        principal = await load_principal(key_hash)
        if self.state.auth_generation == generation:
            # Unknown keys are cached too, so a client retrying a bad key cannot hammer the database.
            self.state.auth_cache[key_hash] = principal
        return principal

    def _done(self, loading: tuple[str, int], task: asyncio.Task[Principal | None]) -> None:
        self.pending.pop(loading, None)
        if not task.cancelled():
            task.exception()  # read, so a failure nobody waited for is not logged as never retrieved


@hookimpl
def startup(state: AppState) -> None:
    state.services[_LOADS] = PrincipalLoads(state)
    last_used = state.services[NAME] = LastUsed()
    state.every(FLUSH_SECONDS, last_used.flush)
    if state.settings.redis_url:
        # Clears the whole cache: revocations are rare, and a key's next request reloads it.
        listener = asyncio.ensure_future(listen_auth_changes(state.settings.redis_url, state.invalidate_auth))
        state.services[_LISTENER] = listener


@hookimpl
async def shutdown(state: AppState) -> None:
    listener = state.services.pop(_LISTENER, None)
    if listener is not None:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
    await state.services[NAME].flush()


@hookimpl
async def authenticate(ctx: RequestContext) -> Principal | None:
    token = bearer_token(ctx)
    if token is None:
        return None
    key_hash = hash_api_key(token)
    cache = ctx.state.auth_cache
    try:
        principal = cache[key_hash]
    except KeyError:
        principal = await ctx.state.services[_LOADS].load(key_hash)
    if principal is not None:
        ctx.state.services[NAME].touch(principal.api_key_id)
    return principal
