"""The dashboard's tables: signed-in browsers, sign-in throttles and the audit log.

A Tortoise app of its own (``dashboard``), migrated from ``dashboard/migrations``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from proxy.api import User


class AuthThrottle(Model):
    """Sign-in, registration and password-change attempts per account or client address.

    Shared by every worker and instance; written with one atomic statement per attempt
    (``dashboard.throttle``). Times are Unix seconds, so the arithmetic is the same in SQL on
    SQLite and PostgreSQL.
    """

    key = fields.CharField(max_length=128, primary_key=True)
    attempts = fields.IntField(default=0)
    delay = fields.FloatField(default=0)
    blocked_until = fields.FloatField(default=0)
    updated_at = fields.FloatField(db_index=True)

    class Meta:
        table = "auth_throttle"


class DashboardSession(Model):
    """A signed-in browser. The cookie holds a random id; only its hash is stored."""

    id = fields.CharField(max_length=64, primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sessions", on_delete=fields.CASCADE
    )
    csrf_token = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "dashboard_sessions"


class AuditEntry(Model):
    """One recorded account action (``proxy.audit``): time, actor, address, never a secret.

    ``subject`` is the username the action concerns, so a user's own history is one indexed
    lookup; no foreign key, so the log outlives a deleted account.
    """

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(db_index=True)
    actor = fields.CharField(max_length=150)
    action = fields.CharField(max_length=64, db_index=True)
    subject = fields.CharField(max_length=150, db_index=True, default="")
    target = fields.CharField(max_length=200, default="")
    address = fields.CharField(max_length=64, default="")
    details = fields.CharField(max_length=300, default="")

    class Meta:
        table = "dashboard_audit"
