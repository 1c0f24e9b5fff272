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


class UsageRecord(Model):
    """One proxied request: who, through which key and upstream, and what it cost."""

    id = fields.BigIntField(primary_key=True)
    created_at = fields.DatetimeField(db_index=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="usage_records", on_delete=fields.CASCADE
    )
    api_key: fields.ForeignKeyNullableRelation[ApiKey] = fields.ForeignKeyField(
        "models.ApiKey", related_name="usage_records", null=True, on_delete=fields.SET_NULL
    )
    mode = fields.CharField(max_length=32)
    model = fields.CharField(max_length=200, null=True)
    upstream = fields.CharField(max_length=200, null=True)
    # Which plugin's candidate served it, as "<owner>:<ref>" (``Upstream.owner`` and ``.ref``); None
    # for the shared upstream. Plain text, no foreign key: the owner reads its own references back.
    upstream_ref = fields.CharField(max_length=200, null=True, db_index=True)
    status = fields.IntField()
    stream = fields.BooleanField(default=False)
    input_tokens = fields.IntField(default=0)
    output_tokens = fields.IntField(default=0)
    duration_ms = fields.IntField(default=0)
    # The gateway's id of the request (``x-request-id``): a batch written again after a failure
    # whose commit had in fact gone through adds nothing twice. None for rows older than it.
    request_id = fields.CharField(max_length=32, null=True, unique=True)

    class Meta:
        table = "usage_records"
