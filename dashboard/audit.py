"""The audit log: account actions kept in ``dashboard_audit``, shown to admins and, for sign-ins, to
each user.

Events arrive through the ``account_event`` hook (``proxy.audit.record``) from the dashboard, the
command line and other plugins. One INSERT per event: account actions are rare, and a sign-in
already spends a password hash's time. A failed write is logged and never fails the action.
Entries older than ``[plugins.dashboard] audit_retention_days`` (default 180) are purged hourly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from dashboard.models import AuditEntry
from proxy.api import AccountEvent

log = logging.getLogger("llmgate")

DEFAULT_RETENTION_DAYS = 180
PURGE_SECONDS = 3600.0
PAGE_SIZE = 50
SIGNIN_ACTIONS = ("signin", "signin.failed")
# Every action the gateway records, for the admin's filter (plugins may add others).
ACTIONS = (
    "signin", "signin.failed", "password.changed", "user.registered", "user.created", "user.approved",
    "user.disabled", "user.enabled", "admin.granted", "admin.revoked", "api_key.created",
    "api_key.revoked", "ollama_key.added", "ollama_key.removed", "ollama_key.preferred", "quota.set",
)
_LIMITS = {"actor": 150, "action": 64, "subject": 150, "target": 200, "address": 64, "details": 300}


async def write(event: AccountEvent) -> None:
    """Store one event; a failure is logged (without the event's text) and swallowed."""
    values = {name: str(getattr(event, name) or "")[:limit] for name, limit in _LIMITS.items()}
    try:
        await AuditEntry.create(at=event.at or datetime.now(UTC), **values)
    except Exception as exc:  # noqa: BLE001 -- the action happened; losing its record must not undo it
        log.error("could not record %s in the audit log: %r", event.action, exc)


def retention_days(options: dict[str, object]) -> int:
    value = options.get("audit_retention_days", DEFAULT_RETENTION_DAYS)
    try:
        days = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        days = 0
    if days < 1:
        from config.settings import SettingsError

        raise SettingsError(f"plugins.dashboard.audit_retention_days must be a whole number of days, 1 or more, "
                            f"not {value!r}")
    return days


async def purge(days: int, now: datetime | None = None) -> int:
    """Delete entries older than ``days``; returns how many."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    return await AuditEntry.filter(at__lt=cutoff).delete()


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """The admin's filter: a username (actor or subject), an action, a date range (UTC days)."""

    user: str = ""
    action: str = ""
    since: date | None = None
    until: date | None = None
    page: int = 1

    @classmethod
    def from_args(cls, args: dict[str, str]) -> tuple[AuditFilter, str | None]:
        """The filter from query arguments, and an error message for a value that makes no sense."""
        error = None
        days: list[date | None] = []
        for name in ("since", "until"):
            text = args.get(name, "").strip()
            try:
                days.append(date.fromisoformat(text) if text else None)
            except ValueError:
                days.append(None)
                error = f"{name.capitalize()} must be a date like 2026-11-29."
        try:
            page = max(1, int(args.get("page", "1") or "1"))
        except ValueError:
            page = 1
        found = cls(args.get("user", "").strip(), args.get("action", "").strip(), days[0], days[1], page)
        return found, error


async def entries(selection: AuditFilter) -> tuple[list[AuditEntry], bool]:
    """One page of entries, newest first, and whether there is a next page."""
    query = AuditEntry.all()
    if selection.user:
        from tortoise.expressions import Q

        query = query.filter(Q(actor=selection.user) | Q(subject=selection.user))
    if selection.action:
        query = query.filter(action=selection.action)
    if selection.since:
        query = query.filter(at__gte=datetime.combine(selection.since, time.min, UTC))
    if selection.until:
        query = query.filter(at__lt=datetime.combine(selection.until + timedelta(days=1), time.min, UTC))
    offset = (selection.page - 1) * PAGE_SIZE
    rows = await query.order_by("-at", "-id").offset(offset).limit(PAGE_SIZE + 1)
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


async def signins_of(username: str, limit: int = PAGE_SIZE) -> list[AuditEntry]:
    """A user's recent sign-ins, successful and failed, newest first."""
    return await AuditEntry.filter(subject=username, action__in=SIGNIN_ACTIONS).order_by("-at", "-id").limit(limit)
