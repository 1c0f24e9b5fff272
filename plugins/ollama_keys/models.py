"""The ollama_keys plugin's own tables (a Tortoise app named ``ollama_keys``).

Migrated from ``plugins/ollama_keys/migrations``. The keys themselves (``ollama_keys``) and the
failed attempts are still the core's tables for now; the user's preferred key lives here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from proxy.storage.models import OllamaKey, User


class OllamaKeyPreference(Model):
    """The key a user's requests go to first. No row: the shared upstream serves the user."""

    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "models.User", related_name=False, on_delete=fields.CASCADE, primary_key=True
    )
    # Removing the key removes the preference: back to the shared upstream.
    key: fields.ForeignKeyRelation[OllamaKey] = fields.ForeignKeyField(
        "models.OllamaKey", related_name=False, on_delete=fields.CASCADE
    )

    class Meta:
        table = "ollama_key_preferences"
