"""The database schema. Changing a model needs a migration in both ``migrations/`` folders
(``llmgate makemigrations``); a test fails when one is missing."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class User(Model):
    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=64, unique=True)
    password_hash = fields.CharField(max_length=255)
    is_admin = fields.BooleanField(default=False)
    disabled = fields.BooleanField(default=False)
    # False while an account registered under registration = "approval" awaits an admin.
    approved = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "users"


class UserSettings(Model):
    """Per-user choices. Absent row or null fields: the server's defaults apply."""

    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "models.User", related_name="settings", on_delete=fields.CASCADE, primary_key=True
    )
    selected_model = fields.CharField(max_length=200, null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "user_settings"


class ApiKey(Model):
    """A gateway API key. Only a hash of the secret is kept; ``prefix`` identifies it on screens."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="api_keys", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=100)
    mode = fields.CharField(max_length=32)
    prefix = fields.CharField(max_length=16, unique=True)
    key_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_keys"


class OllamaKey(Model):
    """A user's Ollama Cloud key, encrypted at rest, with what the gateway learned about it."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="ollama_keys", on_delete=fields.CASCADE
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


class UsageRecord(Model):
    """One proxied request: who, through which key, and what it cost."""

    id = fields.BigIntField(primary_key=True)
    created_at = fields.DatetimeField(db_index=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="usage_records", on_delete=fields.CASCADE
    )
    api_key: fields.ForeignKeyNullableRelation[ApiKey] = fields.ForeignKeyField(
        "models.ApiKey", related_name="usage_records", null=True, on_delete=fields.SET_NULL
    )
    ollama_key: fields.ForeignKeyNullableRelation[OllamaKey] = fields.ForeignKeyField(
        "models.OllamaKey", related_name="usage_records", null=True, on_delete=fields.SET_NULL
    )
    mode = fields.CharField(max_length=32)
    model = fields.CharField(max_length=200, null=True)
    upstream = fields.CharField(max_length=200, null=True)
    status = fields.IntField()
    stream = fields.BooleanField(default=False)
    input_tokens = fields.IntField(default=0)
    output_tokens = fields.IntField(default=0)
    duration_ms = fields.IntField(default=0)

    class Meta:
        table = "usage_records"


class UpstreamAttempt(Model):
    """A failed upstream attempt, kept for the dashboard and operators."""

    id = fields.BigIntField(primary_key=True)
    created_at = fields.DatetimeField(db_index=True)
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="upstream_attempts", null=True, on_delete=fields.CASCADE
    )
    ollama_key: fields.ForeignKeyNullableRelation[OllamaKey] = fields.ForeignKeyField(
        "models.OllamaKey", related_name="attempts", null=True, on_delete=fields.CASCADE
    )
    upstream = fields.CharField(max_length=200)
    status = fields.IntField(null=True)
    message = fields.TextField()

    class Meta:
        table = "upstream_attempts"
