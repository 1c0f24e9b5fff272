"""Operations on users' Ollama keys, shared by the CLI and the dashboard.

Secrets are encrypted with the server's ``SecretBox`` before they are stored and are only ever
shown masked. A key is checked against ``POST /api/me`` when it is added: a key Ollama Cloud
refuses is not stored, and the error says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from tortoise.functions import Count, Sum
from tortoise.transactions import in_transaction

from plugins.ollama_keys import resources, windows
from plugins.ollama_keys.candidates import preferred_key_id, stored_state, usage_ref
from plugins.ollama_keys.models import OllamaKey, OllamaKeyPreference, UpstreamAttempt
from proxy.api import AccountError, SecretBox, UsageRecord, mask_secret

MAX_NAME_LENGTH = 100
MAX_SECRET_LENGTH = 1024


class OllamaKeyError(AccountError):
    """A user-facing reason an Ollama key operation cannot be done (never contains the secret)."""


@dataclass(slots=True)
class KeyView:
    """What a screen shows of one key: never the secret. Times are aware UTC datetimes."""

    id: int
    name: str
    masked: str
    position: int
    preferred: bool
    state: str  # "ok" | "exhausted" | "invalid" | "unreadable" (secret cannot be decrypted)
    account_id: str | None
    account_email: str | None
    plan: str | None
    siblings: list[str]  # names of this user's other keys on the same Ollama account
    exhausted_since: datetime | None
    exhausted_until: datetime | None  # None while exhausted: until a refresh shows usage below the limit
    exhausted_window: str | None
    invalid_since: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    # Ollama's figures (fractions 0..1, None when not reported) and the estimated resets.
    session_used: float | None
    weekly_used: float | None
    monthly_used: float | None
    session_resets_at: datetime
    weekly_resets_at: datetime
    monthly_resets_at: datetime
    usage: dict[str, Any] | None  # the raw /api/usage answer (per-model request counts, cost)
    usage_fetched_at: datetime | None
    usage_error: str | None
    usage_next_fetch_at: datetime | None
    # The gateway's own counts for this key: this session window and this week.
    session_requests: int
    session_tokens: int
    week_requests: int
    week_tokens: int


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise OllamaKeyError("Give the key a name (a label to tell it apart).")
    if len(name) > MAX_NAME_LENGTH:
        raise OllamaKeyError(f"Key names are at most {MAX_NAME_LENGTH} characters long.")
    if not name.isprintable():
        # Line breaks and terminal escapes would reach logs and the CLI's listings.
        raise OllamaKeyError("Key names are one line of visible characters (no control characters).")
    return name


def check_secret(secret: str) -> str:
    secret = secret.strip()
    if not secret:
        raise OllamaKeyError("The Ollama key is empty.")
    if len(secret) > MAX_SECRET_LENGTH or not secret.isascii() or not secret.isprintable() or " " in secret:
        # It travels in an HTTP header: only printable ASCII can (anything else was a 500).
        raise OllamaKeyError("That does not look like an Ollama key (one line of ASCII letters, digits and signs, no spaces).")
    return secret


async def get_key(user_id: int, key_id: int) -> OllamaKey:
    key = await OllamaKey.filter(id=key_id, user_id=user_id).first()
    if key is None:
        raise OllamaKeyError("No such Ollama key.")
    return key


async def find_key(user_id: int, name: str) -> OllamaKey:
    key = await OllamaKey.filter(user_id=user_id, name=name.strip()).first()
    if key is None:
        raise OllamaKeyError(f"No Ollama key named {name.strip()!r}.")
    return key


async def add_key(
    http: httpx.AsyncClient,
    box: SecretBox,
    cloud_url: str,
    user_id: int,
    name: str,
    secret: str,
    *,
    preferred: bool = False,
) -> OllamaKey:
    """Check the key with Ollama Cloud, then store it (encrypted) after the user's other keys."""
    name, secret = check_name(name), check_secret(secret)
    existing = await OllamaKey.filter(user_id=user_id)
    for other in existing:
        if other.name == name:
            raise OllamaKeyError(f"You already have an Ollama key named {name!r}.")
        if box.decrypt(other.secret_encrypted) == secret:
            raise OllamaKeyError(f"This Ollama key is already added, as {other.name!r}.")
    me = await resources.fetch_me(http, cloud_url, secret)
    if me.error is not None:
        raise OllamaKeyError(f"Ollama Cloud did not accept this key ({me.error}).")
    now = datetime.now(UTC)
    usage = await resources.fetch_usage(http, cloud_url, secret)
    key = await OllamaKey.create(
        user_id=user_id,
        name=name,
        secret_encrypted=box.encrypt(secret),
        masked=mask_secret(secret),
        position=max((k.position for k in existing), default=-1) + 1,
        usage=usage.data if usage.error is None else None,
        usage_fetched_at=now if usage.error is None else None,
        usage_error=usage.error,
        usage_next_fetch_at=now + timedelta(seconds=resources.REFRESH_SECONDS),
        **resources.account_fields(me.data),
    )
    if preferred:
        await set_preferred(user_id, key.id)
    return key


async def remove_key(user_id: int, key_id: int) -> None:
    key = await get_key(user_id, key_id)
    await key.delete()  # the preferred choice, if it was this key, goes with it (CASCADE)


async def set_preferred(user_id: int, key_id: int | None) -> None:
    """Route the user's requests to ``key_id`` first; None: back to the shared upstream."""
    if key_id is not None:
        await get_key(user_id, key_id)
    if key_id is None:
        await OllamaKeyPreference.filter(user_id=user_id).delete()
    else:
        await OllamaKeyPreference.update_or_create(defaults={"key_id": key_id}, user_id=user_id)


async def move_key(user_id: int, key_id: int, offset: int) -> None:
    """Move a key ``offset`` places in the user's order (-1: up, +1: down), clamped at the ends."""
    async with in_transaction():
        keys = await OllamaKey.filter(user_id=user_id).order_by("position", "id")
        index = next((i for i, k in enumerate(keys) if k.id == key_id), None)
        if index is None:
            raise OllamaKeyError("No such Ollama key.")
        target = max(0, min(len(keys) - 1, index + offset))
        keys.insert(target, keys.pop(index))
        for position, key in enumerate(keys):
            if key.position != position:
                await OllamaKey.filter(id=key.id).update(position=position)


async def recheck_key(http: httpx.AsyncClient, box: SecretBox, cloud_url: str, user_id: int, key_id: int) -> str | None:
    """Ask ``/api/me`` again (the owner's explicit re-check): clears the invalid mark when accepted.

    Returns None when the key is accepted, else the reason it is not.
    """
    key = await get_key(user_id, key_id)
    secret = box.decrypt(key.secret_encrypted)
    if secret is None:
        return "the stored key cannot be decrypted (the server secret changed); add it again"
    me = await resources.fetch_me(http, cloud_url, secret)
    now = datetime.now(UTC)
    if me.error is None:
        await OllamaKey.filter(id=key.id).update(invalid_since=None, **resources.account_fields(me.data))
        return None
    if me.status == 401:
        await OllamaKey.filter(id=key.id).update(invalid_since=key.invalid_since or now, last_error=me.error, last_error_at=now)
    return me.error


async def _gateway_counts(key_ids: list[int], since: datetime) -> dict[int, tuple[int, int]]:
    if not key_ids:
        return {}
    refs = {usage_ref(key_id): key_id for key_id in key_ids}
    rows = (
        await UsageRecord.filter(upstream_ref__in=list(refs), created_at__gte=since)
        .annotate(requests=Count("id"), input=Sum("input_tokens"), output=Sum("output_tokens"))
        .group_by("upstream_ref")
        .values("upstream_ref", "requests", "input", "output")
    )
    return {
        refs[r["upstream_ref"]]: (int(r["requests"] or 0), int(r["input"] or 0) + int(r["output"] or 0))
        for r in rows
    }


def key_state(key: OllamaKey, box: SecretBox, now: datetime) -> str:
    if box.decrypt(key.secret_encrypted) is None:
        return "unreadable"
    state = stored_state(key.invalid_since, key.exhausted_since, key.exhausted_until, key.exhausted_window, now)
    if state.invalid:
        return "invalid"
    return "exhausted" if state.exhausted else "ok"


async def list_keys(box: SecretBox, user_id: int, now: datetime | None = None) -> list[KeyView]:
    now = now or datetime.now(UTC)
    keys = await OllamaKey.filter(user_id=user_id).order_by("position", "id")
    preferred = await preferred_key_id(user_id)
    ids = [k.id for k in keys]
    session = await _gateway_counts(ids, windows.window_start("session", now))  # type: ignore[arg-type]
    week = await _gateway_counts(ids, windows.window_start("weekly", now))  # type: ignore[arg-type]
    views = []
    for key in keys:
        usage = key.usage if isinstance(key.usage, dict) else None
        views.append(
            KeyView(
                id=key.id,
                name=key.name,
                masked=key.masked,
                position=key.position,
                preferred=key.id == preferred,
                state=key_state(key, box, now),
                account_id=key.account_id,
                account_email=key.account_email,
                plan=key.plan,
                siblings=[k.name for k in keys if k.id != key.id and key.account_id and k.account_id == key.account_id],
                exhausted_since=key.exhausted_since,
                exhausted_until=key.exhausted_until,
                exhausted_window=key.exhausted_window,
                invalid_since=key.invalid_since,
                last_error=key.last_error,
                last_error_at=key.last_error_at,
                session_used=resources.usage_fraction(usage, "session"),
                weekly_used=resources.usage_fraction(usage, "weekly"),
                monthly_used=resources.usage_fraction(usage, "monthly"),
                session_resets_at=windows.session_reset(now),
                weekly_resets_at=windows.weekly_reset(now),
                monthly_resets_at=windows.monthly_reset(now),
                usage=usage,
                usage_fetched_at=key.usage_fetched_at,
                usage_error=key.usage_error,
                usage_next_fetch_at=key.usage_next_fetch_at,
                session_requests=session.get(key.id, (0, 0))[0],
                session_tokens=session.get(key.id, (0, 0))[1],
                week_requests=week.get(key.id, (0, 0))[0],
                week_tokens=week.get(key.id, (0, 0))[1],
            )
        )
    return views


async def recent_attempts(user_id: int, limit: int = 50) -> list[UpstreamAttempt]:
    """The user's latest failed upstream attempts, newest first (``ollama_key`` prefetched)."""
    return await UpstreamAttempt.filter(user_id=user_id).order_by("-created_at").limit(limit).prefetch_related("ollama_key")
