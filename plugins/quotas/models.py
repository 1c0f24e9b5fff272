"""The quotas plugin's table: per-user token quotas an admin set (``quotas`` Tortoise app)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from proxy.api import User


class UserQuota(Model):
    """An admin's quota for one user. NULL: the configured default; 0: unlimited."""

    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "models.User", related_name=False, on_delete=fields.CASCADE, primary_key=True
    )
    daily_tokens = fields.BigIntField(null=True)
    monthly_tokens = fields.BigIntField(null=True)

    class Meta:
        table = "quotas_user_quotas"
