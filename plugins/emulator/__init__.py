"""Emulator mode: the OpenAI Responses API over Ollama (see plugins.emulator.plugin)."""

from .plugin import EmulatorMode

__all__ = ["EmulatorMode"]
