"""The emulator's tables: responses kept for ``previous_response_id`` and ``item_reference``.

A Tortoise app of its own (``emulator``), migrated from ``plugins/emulator/migrations``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from proxy.api import User


class StoredResponse(Model):
    """A Responses API response kept because the client sent ``store: true``."""

    id = fields.CharField(max_length=64, primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="stored_responses", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(db_index=True)
    previous_response_id = fields.CharField(max_length=64, null=True)
    # The upstream conversation up to and including this response, for previous_response_id.
    messages = fields.JSONField()
    response = fields.JSONField()
    # What the row and its items take (their JSON), for the per-user cap: one SUM finds a user's total.
    size_bytes = fields.BigIntField(default=0)

    class Meta:
        table = "stored_responses"


class StoredItem(Model):
    """One item of a stored response, found by (user, item id) when a request references it.

    Output items, and input items the client sent with an id. One indexed query resolves all
    ``item_reference`` items of a request. An id may appear in several responses (a client that
    resends its history): the newest live row wins."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="stored_items", on_delete=fields.CASCADE
    )
    response: fields.ForeignKeyRelation[StoredResponse] = fields.ForeignKeyField(
        "emulator.StoredResponse", related_name="items", on_delete=fields.CASCADE
    )
    item_id = fields.CharField(max_length=64)
    expires_at = fields.DatetimeField()  # the response's, so a lookup needs no join
    item = fields.JSONField()

    class Meta:
        table = "stored_items"
        indexes = (("user", "item_id"),)
