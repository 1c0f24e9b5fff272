"""The hot path's view of a user's Ollama keys: a short in-process cache over the database.

``select_upstream`` must not query the database on every request. A user's key list (decrypted
secrets, exhausted and invalid marks, cached usage figures) is kept for ``list_cache_seconds``
(3 s by default): a mark written by another worker or instance, or a change made on the dashboard
of another worker, reaches this worker within that bound. Marks this worker makes itself apply at
once, through an overlay that outlives the cache long enough for the database write to land.

Probes: a key this worker has not yet seen answer well since its last exhausted mark (a fresh
worker, or a window that has just passed) is tried by one request at a time; concurrent requests
wait up to ``probe_wait_seconds`` for that request's verdict instead of all hitting a key that may
still be exhausted. A healthy key is never gated.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cachetools import TTLCache

from plugins.ollama_keys.models import OllamaKey, OllamaKeyPreference
from plugins.shared_upstream import CLOUD_MODEL_SUFFIXES
from proxy.api import SecretBox, Upstream

OVERLAY_SECONDS = 30.0  # an in-process mark wins over the (maybe older) database copy this long


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """One key as the hot path sees it. ``upstream`` carries the secret: never log this object."""

    id: int
    user_id: int
    name: str
    position: int
    masked: str
    account_id: str | None
    plan: str | None
    exhausted_since: datetime | None
    exhausted_until: datetime | None
    exhausted_window: str | None
    invalid_since: datetime | None
    usage: dict[str, Any] | None
    upstream: Upstream | None = field(repr=False)  # None: the secret cannot be decrypted
    preferred: bool = False  # the user routes requests to this key first

    def __repr__(self) -> str:
        return f"KeyInfo(id={self.id}, name={self.name!r}, masked={self.masked!r})"


@dataclass(slots=True)
class Mark:
    kind: str  # "exhausted" | "invalid"
    since: datetime
    until: datetime | None = None  # exhausted: None = unknown window
    window: str | None = None
    set_at: float = field(default_factory=time.monotonic)

    def fresh(self) -> bool:
        return time.monotonic() - self.set_at < OVERLAY_SECONDS


@dataclass(slots=True)
class KeyState:
    """A key's effective state now: the database copy with this worker's newer marks applied."""

    invalid: bool
    exhausted: bool
    exhausted_since: datetime | None
    exhausted_until: datetime | None
    exhausted_window: str | None

    @property
    def usable(self) -> bool:
        return not (self.invalid or self.exhausted)


def exhausted_at(since: datetime | None, until: datetime | None, now: datetime) -> bool:
    """Whether an exhausted mark still holds at ``now``: set, and its window (None: unknown, so it
    holds until a probe clears it) not yet over. The one definition routing and the dashboard share."""
    return since is not None and (until is None or until > now)


def stored_state(
    invalid_since: datetime | None,
    exhausted_since: datetime | None,
    exhausted_until: datetime | None,
    exhausted_window: str | None,
    now: datetime,
) -> KeyState:
    """A key's state from its stored marks alone (the dashboard's view; routing adds fresher marks)."""
    exhausted = exhausted_at(exhausted_since, exhausted_until, now)
    return KeyState(invalid_since is not None, exhausted, exhausted_since, exhausted_until, exhausted_window)


@dataclass(slots=True)
class Gate:
    confirmed_at: datetime | None = None  # last time the key answered well in this worker
    prober: str | None = None  # request id of the probe in flight
    verdict: asyncio.Event | None = None


OWNER = "ollama_keys"  # the plugin's name: the owner of the candidates it offers


def usage_ref(key_id: int) -> str:
    """The key's ``usage_records.upstream_ref``: ``"<owner>:<ref>"`` as the usage recorder writes it."""
    return f"{OWNER}:{key_id}"


def key_id_of(ref: str | None) -> int | None:
    """The key's id in one of this plugin's usage references; None for anything else."""
    owner, _, key_id = (ref or "").partition(":")
    return int(key_id) if owner == OWNER and key_id.isdigit() else None


def key_upstream(row: OllamaKey, secret: str, cloud_url: str) -> Upstream:
    """A key as a candidate: ``ref`` is the key's id."""
    return Upstream(
        label=row.name, base_url=cloud_url, api_key=secret, owner=OWNER, ref=row.id,
        drop_model_suffixes=CLOUD_MODEL_SUFFIXES,
    )


def key_info(row: OllamaKey, box: SecretBox, cloud_url: str, preferred_id: int | None = None) -> KeyInfo:
    secret = box.decrypt(row.secret_encrypted)
    return KeyInfo(
        id=row.id,
        user_id=row.user_id,  # type: ignore[attr-defined]
        name=row.name,
        position=row.position,
        masked=row.masked,
        account_id=row.account_id,
        plan=row.plan,
        exhausted_since=row.exhausted_since,
        exhausted_until=row.exhausted_until,
        exhausted_window=row.exhausted_window,
        invalid_since=row.invalid_since,
        usage=row.usage if isinstance(row.usage, dict) else None,
        upstream=key_upstream(row, secret, cloud_url) if secret else None,
        preferred=row.id == preferred_id,
    )


async def preferred_key_id(user_id: int) -> int | None:
    """The key the user routes requests to first; None: the shared upstream serves them."""
    found = await OllamaKeyPreference.filter(user_id=user_id).values_list("key_id", flat=True)
    return found[0] if found else None


class KeyDirectory:
    def __init__(self, box: SecretBox, cloud_url: str, list_seconds: float = 3.0, probe_wait: float = 3.0) -> None:
        self.box = box
        self.cloud_url = cloud_url
        self.probe_wait = probe_wait
        self._lists: TTLCache[int, list[KeyInfo]] = TTLCache(maxsize=50_000, ttl=list_seconds)
        self._loading: dict[int, asyncio.Future[list[KeyInfo]]] = {}
        self.key_marks: dict[int, Mark] = {}
        self.account_marks: dict[str, Mark] = {}
        self.gates: dict[int, Gate] = {}

    # --- the key lists ------------------------------------------------------------------

    async def keys_for(self, user_id: int) -> list[KeyInfo]:
        """The user's keys by position; at most one query per user per cache period and worker."""
        try:
            return self._lists[user_id]
        except KeyError:
            pass
        loading = self._loading.get(user_id)
        if loading is not None:
            return await asyncio.shield(loading)
        future: asyncio.Future[list[KeyInfo]] = asyncio.get_running_loop().create_future()
        self._loading[user_id] = future
        try:
            rows = await OllamaKey.filter(user_id=user_id).order_by("position", "id")
            # The preference is read with the keys (and only for users who have keys), so it
            # costs no query of its own per request.
            preferred_id = await preferred_key_id(user_id) if rows else None
            keys = [key_info(row, self.box, self.cloud_url, preferred_id) for row in rows]
            self._lists[user_id] = keys
            future.set_result(keys)
            return keys
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters see it, the loop does not complain
            raise
        finally:
            del self._loading[user_id]

    def forget(self, user_id: int | None = None) -> None:
        """Drop cached lists (after a change made in this worker) so the next request reloads."""
        if user_id is None:
            self._lists.clear()
        else:
            self._lists.pop(user_id, None)

    # --- marks --------------------------------------------------------------------------

    def state(self, key: KeyInfo, now: datetime | None = None) -> KeyState:
        now = now or datetime.now(UTC)
        state = stored_state(key.invalid_since, key.exhausted_since, key.exhausted_until, key.exhausted_window, now)
        own = self.key_marks.get(key.id)
        if own is not None and own.fresh() and own.kind == "invalid":
            state.invalid = True
        for mark in (self.account_marks.get(key.account_id) if key.account_id else None, own):
            if mark is not None and mark.fresh() and mark.kind == "exhausted" and exhausted_at(mark.since, mark.until, now):
                state.exhausted = True
                state.exhausted_since, state.exhausted_until, state.exhausted_window = mark.since, mark.until, mark.window
        return state

    def mark_exhausted(self, key: KeyInfo, now: datetime, until: datetime | None, window: str) -> bool:
        """Mark the key (and its account's other keys); False when this worker knew already."""
        current = self.state(key, now)
        if current.exhausted and current.exhausted_until == until:
            return False
        mark = Mark("exhausted", now, until, window)
        if key.account_id:
            self.account_marks[key.account_id] = mark
        else:
            self.key_marks[key.id] = mark
        self._unconfirm(key.id)
        return True

    def mark_invalid(self, key: KeyInfo, now: datetime) -> bool:
        if self.state(key, now).invalid:
            return False
        self.key_marks[key.id] = Mark("invalid", now)
        self._unconfirm(key.id)
        return True

    def clear_marks(self, key_id: int, account_id: str | None) -> None:
        """Forget this worker's marks for a key (its owner re-checked it, a refresh cleared it)."""
        self.key_marks.pop(key_id, None)
        if account_id:
            self.account_marks.pop(account_id, None)
        self.gates.pop(key_id, None)

    def prune(self) -> None:
        """Drop stale overlay marks (a periodic job; the dicts stay small)."""
        for marks in (self.key_marks, self.account_marks):
            for name in [name for name, mark in marks.items() if not mark.fresh()]:
                del marks[name]

    # --- probes -------------------------------------------------------------------------

    def _unconfirm(self, key_id: int) -> None:
        gate = self.gates.get(key_id)
        if gate is not None:
            gate.confirmed_at = None

    def confirmed(self, key: KeyInfo, state: KeyState) -> bool:
        gate = self.gates.get(key.id)
        if gate is None or gate.confirmed_at is None:
            return False
        return state.exhausted_since is None or gate.confirmed_at > state.exhausted_since

    async def admit(self, key: KeyInfo, request_id: str) -> bool:
        """May this request try ``key`` now? Waits for a probe in flight; False: skip the key."""
        state = self.state(key)
        if not state.usable:
            return False
        if self.confirmed(key, state):
            return True
        gate = self.gates.setdefault(key.id, Gate())
        if gate.prober is None or gate.prober == request_id:
            gate.prober, gate.verdict = request_id, asyncio.Event()
            return True
        verdict = gate.verdict
        assert verdict is not None
        try:
            await asyncio.wait_for(verdict.wait(), self.probe_wait)
        except TimeoutError:
            pass  # a slow first answer: go ahead rather than hold requests any longer
        return self.state(key).usable

    def confirm(self, key_id: int, request_id: str) -> None:
        gate = self.gates.setdefault(key_id, Gate())
        gate.confirmed_at = datetime.now(UTC)
        self.release(key_id, request_id)

    def release(self, key_id: int, request_id: str) -> None:
        """The probe by ``request_id`` has its verdict (or ended without one): wake the waiters."""
        gate = self.gates.get(key_id)
        if gate is not None and gate.prober == request_id:
            if gate.verdict is not None:
                gate.verdict.set()
            gate.prober, gate.verdict = None, None
