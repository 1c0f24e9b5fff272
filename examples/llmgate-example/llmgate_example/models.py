"""The plugin's table: journal entries, each with the model's reflection on it."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class JournalEntry(Model):
    id = fields.IntField(primary_key=True)
    # The core's users are app "models"; related_name=False adds nothing to the core's model.
    user = fields.ForeignKeyField("models.User", related_name=False, on_delete=fields.CASCADE)
    text = fields.TextField()
    reflection = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "journal_entries"  # prefixed with the plugin's name: no clash with another table
