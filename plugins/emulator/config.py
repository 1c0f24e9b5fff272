"""The emulator's settings: the ``[plugins.emulator]`` table, read once per app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.settings import Settings, SettingsError

DEFAULT_MODELS = ("gpt-5.4",)


@dataclass(frozen=True, slots=True)
class EmulatorSettings:
    # Model names an emulator key sees; a request for one of them is served by the user's model.
    models: tuple[str, ...] = DEFAULT_MODELS
    store_retention_hours: float = 720.0
    # Stored responses per user in bytes (their JSON); the oldest go first. 0: no cap.
    store_max_bytes_per_user: int = 100_000_000
    commit_after_seconds: float = 1.0
    heartbeat_seconds: float = 5.0
    # How often expired stored responses are deleted.
    purge_every_seconds: float = 3600.0
    # Context window reported in the Codex catalog when the upstream model's is unknown.
    fallback_context_window: int = 128_000

    @property
    def default_model(self) -> str:
        return self.models[0]


def _number(table: dict[str, Any], key: str, default: float, *, minimum: float = 0.0) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise SettingsError(f"plugins.emulator.{key} must be a number of at least {minimum}, not {value!r}")
    return float(value)


def load(settings: Settings) -> EmulatorSettings:
    table = dict(settings.plugin("emulator"))
    models = table.get("models", list(DEFAULT_MODELS))
    if isinstance(models, str):  # LLMGATE_* style comma-separated override
        models = [m.strip() for m in models.split(",") if m.strip()]
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m for m in models):
        raise SettingsError("plugins.emulator.models must be a non-empty list of model names")
    return EmulatorSettings(
        models=tuple(models),
        store_retention_hours=_number(table, "store_retention_hours", 720.0, minimum=0.01),
        store_max_bytes_per_user=int(_number(table, "store_max_bytes_per_user", 100_000_000)),
        commit_after_seconds=_number(table, "commit_after_seconds", 1.0),
        heartbeat_seconds=_number(table, "heartbeat_seconds", 5.0, minimum=0.05),
        purge_every_seconds=_number(table, "purge_every_seconds", 3600.0, minimum=1.0),
        fallback_context_window=int(_number(table, "fallback_context_window", 128_000, minimum=1)),
    )
