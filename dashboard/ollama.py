"""The seam to the Ollama keys plugin: ``state.services["ollama_keys"]``.

The plugin owns adding (checked against the key's ``/api/me``), removing, ordering, choosing the
preferred key and refreshing the cached figures; its ``list_keys`` returns views that never hold
the secret. The dashboard displays those views and asks the service to act. Without the plugin
the pages say that Ollama keys are not enabled on this server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from plugins.ollama_keys.models import OllamaKey
from proxy.api import AppState

SERVICE = "ollama_keys"


@dataclass(frozen=True)
class Limit:
    name: str  # "Session", "Weekly", "Monthly"
    fraction: float
    resets_at: datetime | None


def service(state: AppState) -> Any | None:
    return state.services.get(SERVICE)


def limits(view: Any) -> list[Limit]:
    """The quota bars Ollama reports for a key: session and weekly, or monthly on newer plans."""
    shown = []
    for name in ("session", "weekly", "monthly"):
        fraction = getattr(view, f"{name}_used", None)
        if fraction is not None:
            shown.append(Limit(name.capitalize(), float(fraction), getattr(view, f"{name}_resets_at", None)))
    return shown


async def key_views(state: AppState, user_id: int) -> list[Any]:
    """The user's keys in order; stale figures start a background refresh (never waited for)."""
    return list(await service(state).list_keys(user_id, refresh=True))  # type: ignore[union-attr]


async def own_key(user_id: int, key_id: int) -> OllamaKey | None:
    return await OllamaKey.filter(id=key_id, user_id=user_id).first()
