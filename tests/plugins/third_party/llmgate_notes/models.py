"""The plugin's one table; its foreign key points at the core's users (app ``models``)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Note(Model):
    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField("models.User", related_name=False, on_delete=fields.CASCADE)
    text = fields.TextField()

    class Meta:
        table = "notes_plugin_notes"
