"""The ollama_keys plugin's own tables (a Tortoise app named ``ollama_keys``).

Migrated from ``plugins/ollama_keys/migrations``. ``ollama_keys`` and ``upstream_attempts`` were
created by the core's first migration and adopted by this app's migration 1 (nothing moved).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from proxy.api import User


class OllamaKey(Model):
    """A user's Ollama Cloud key, encrypted at rest, with what the gateway learned about it."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name=False, on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=100)
    secret_encrypted = fields.TextField()
    masked = fields.CharField(max_length=32)
    position = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    # From /api/me: keys of one account share one quota.
    account_id = fields.CharField(max_length=128, null=True, db_index=True)
    account_email = fields.CharField(max_length=255, null=True)
    plan = fields.CharField(max_length=32, null=True)
    # Shared across workers and instances: the failover plugin reads and writes these.
    exhausted_until = fields.DatetimeField(null=True)
    exhausted_since = fields.DatetimeField(null=True)
    exhausted_window = fields.CharField(max_length=16, null=True)
    invalid_since = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    last_error_at = fields.DatetimeField(null=True)
    # Cached /api/usage figures; fetched at most once per 10 minutes per key.
    usage = fields.JSONField(null=True)
    usage_fetched_at = fields.DatetimeField(null=True)
    usage_error = fields.TextField(null=True)
    usage_next_fetch_at = fields.DatetimeField(null=True)

    class Meta:
        table = "ollama_keys"
        unique_together = (("user", "name"),)


class UpstreamAttempt(Model):
    """A failed upstream attempt, kept for the dashboard and operators."""

    id = fields.BigIntField(primary_key=True)
    created_at = fields.DatetimeField(db_index=True)
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name=False, null=True, on_delete=fields.CASCADE
    )
    ollama_key: fields.ForeignKeyNullableRelation[OllamaKey] = fields.ForeignKeyField(
        "ollama_keys.OllamaKey", related_name="attempts", null=True, on_delete=fields.CASCADE
    )
    upstream = fields.CharField(max_length=200)
    status = fields.IntField(null=True)
    message = fields.TextField()

    class Meta:
        table = "upstream_attempts"


class OllamaKeyPreference(Model):
    """The key a user's requests go to first. No row: the shared upstream serves the user."""

    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "models.User", related_name=False, on_delete=fields.CASCADE, primary_key=True
    )
    # Removing the key removes the preference: back to the shared upstream.
    key: fields.ForeignKeyRelation[OllamaKey] = fields.ForeignKeyField(
        "ollama_keys.OllamaKey", related_name=False, on_delete=fields.CASCADE
    )

    class Meta:
        table = "ollama_key_preferences"
