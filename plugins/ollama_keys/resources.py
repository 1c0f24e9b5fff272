"""Per-key resource figures from Ollama Cloud: ``POST /api/me`` (account, plan) and ``GET /api/usage``.

Fetched at most once per ``REFRESH_SECONDS`` per key, across every worker and instance: before it
fetches, a refresher claims the key with one conditional UPDATE (``usage_next_fetch_at`` in the
past or unset → now + 10 minutes). The database runs the statement atomically, so of two
instances racing for a key exactly one sees a changed row and fetches; a failed fetch keeps the
claim, so it is retried at the next allowed time and never sooner. An in-process TTL cache of the
next allowed time saves the claim query when a page is polled.

Refreshes never run inside a proxied request: ``request_refresh`` starts one in the background and
returns at once. A refresh also clears an exhausted mark once usage is below the limit again, and
an invalid mark once ``/api/me`` accepts the key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from tortoise.expressions import Q

from plugins.ollama_keys.models import OllamaKey
from proxy.api import SecretBox, Upstream, error_message, fetch_json, scrub_secrets

if TYPE_CHECKING:
    from proxy.api import AppState

log = logging.getLogger("llmgate")

REFRESH_SECONDS = 600.0


@dataclass(slots=True)
class Lookup:
    """One control-plane call: status (None: no answer), parsed body, and a reason when it failed."""

    status: int | None
    data: Any
    error: str | None


async def _call(http: httpx.AsyncClient, cloud_url: str, secret: str, method: str, path: str) -> Lookup:
    upstream = Upstream(label="ollama.com", base_url=cloud_url, api_key=secret)
    try:
        status, data = await fetch_json(http, upstream, method, path, {} if method == "POST" else None)
    except httpx.HTTPError as exc:
        return Lookup(None, None, f"could not reach Ollama Cloud: {type(exc).__name__}")
    if status == 200 and isinstance(data, dict):
        return Lookup(status, data, None)
    if isinstance(data, dict):
        reason = scrub_secrets(error_message(orjson.dumps(data)), secret)
    else:
        reason = "unexpected answer"
    return Lookup(status, data, f"{method} {path} answered {status}: {reason}")


async def fetch_me(http: httpx.AsyncClient, cloud_url: str, secret: str) -> Lookup:
    return await _call(http, cloud_url, secret, "POST", "/api/me")


async def fetch_usage(http: httpx.AsyncClient, cloud_url: str, secret: str) -> Lookup:
    return await _call(http, cloud_url, secret, "GET", "/api/usage")


def account_fields(me: dict[str, Any]) -> dict[str, Any]:
    account = me.get("id")
    return {
        "account_id": str(account)[:128] if account not in (None, "") else None,
        "account_email": (str(me["email"])[:255] if me.get("email") else None),
        "plan": str(me.get("plan") or "free")[:32],
    }


def usage_fraction(usage: dict[str, Any] | None, window: str) -> float | None:
    if not isinstance(usage, dict):
        return None
    limits = usage.get("limits")
    entry = limits.get(window) if isinstance(limits, dict) else None
    value = entry.get("usage") if isinstance(entry, dict) else None
    return float(value) if isinstance(value, int | float) else None


def below_limit(usage: dict[str, Any] | None, window: str | None) -> bool:
    """Does ``usage`` show the account below the limit of ``window`` (every window when unknown)?"""
    if not isinstance(usage, dict) or not isinstance(usage.get("limits"), dict):
        return False
    limits: dict[str, Any] = usage["limits"]
    names = [window] if window in limits else list(limits)
    fractions = [usage_fraction(usage, name) for name in names]
    return bool(fractions) and all(f is not None and f < 1.0 for f in fractions)


async def claim(key_id: int, now: datetime) -> bool:
    """Take the right to fetch ``key_id``'s figures now; True for exactly one claimant per period."""
    due = Q(usage_next_fetch_at__isnull=True) | Q(usage_next_fetch_at__lte=now)
    changed = await OllamaKey.filter(due, id=key_id).update(
        usage_next_fetch_at=now + timedelta(seconds=REFRESH_SECONDS)
    )
    return changed == 1


async def refresh(http: httpx.AsyncClient, box: SecretBox, cloud_url: str, key_id: int) -> bool:
    """Fetch and store one key's figures if its period allows; False when it was not due."""
    now = datetime.now(UTC)
    if not await claim(key_id, now):
        return False
    row = await OllamaKey.filter(id=key_id).first()
    if row is None:
        return False
    secret = box.decrypt(row.secret_encrypted)
    if secret is None:
        await OllamaKey.filter(id=key_id).update(
            usage_error="the stored key cannot be decrypted (the server secret changed); add it again"
        )
        return True
    changes: dict[str, Any] = {}
    errors: list[str] = []
    me = await fetch_me(http, cloud_url, secret)
    if me.error is None:
        changes.update(account_fields(me.data))
        changes["invalid_since"] = None
    else:
        errors.append(me.error)
        if me.status == 401 and row.invalid_since is None:
            changes.update(invalid_since=now, last_error=me.error, last_error_at=now)
    usage = await fetch_usage(http, cloud_url, secret) if me.status != 401 else Lookup(None, None, None)
    if usage.error is None and usage.data is not None:
        changes.update(usage=usage.data, usage_fetched_at=now)
        if row.exhausted_since is not None and below_limit(usage.data, row.exhausted_window):
            changes.update(exhausted_since=None, exhausted_until=None, exhausted_window=None)
    elif usage.error:
        errors.append(usage.error)
    changes["usage_error"] = "; ".join(errors) or None
    await OllamaKey.filter(id=key_id).update(**changes)
    return True


async def request_refresh(state: AppState, key_id: int) -> bool:
    """Start a background refresh of ``key_id`` when its figures are due; returns at once.

    True when a refresh was started. The figures a page shows come from ``list_keys``.
    """
    return state.services["ollama_keys"].request_refresh(key_id)
