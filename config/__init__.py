"""Settings loading: defaults from ``llmgate.toml``, an operator file, ``LLMGATE_*`` variables."""

from config.settings import Settings, SettingsError, load_settings

__all__ = ["Settings", "SettingsError", "load_settings"]
