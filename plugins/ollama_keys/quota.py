"""Codex's rate-limit headers, filled from a key's cached Ollama usage figures.

Codex shows ``x-codex-primary-*`` (here: the 5-hour session window) and ``x-codex-secondary-*``
(the weekly window, or the monthly one on plans that report that instead) in its status line.
"""

from __future__ import annotations

from datetime import datetime

from plugins.ollama_keys.candidates import KeyInfo, KeyState
from plugins.ollama_keys.resources import usage_fraction
from plugins.ollama_keys.windows import reset_after, window_minutes

PREFIX = "x-codex-"


def _window(name: str, slot: str, key: KeyInfo, state: KeyState, now: datetime) -> dict[str, str]:
    fraction = usage_fraction(key.usage, name)
    if state.exhausted and state.exhausted_window == name:
        fraction = 1.0
    if fraction is None:
        return {}
    reset = reset_after(name, now)
    minutes = window_minutes(name, now)
    assert reset is not None and minutes is not None
    return {
        f"{PREFIX}{slot}-used-percent": f"{min(max(fraction, 0.0), 1.0) * 100:g}",
        f"{PREFIX}{slot}-window-minutes": str(minutes),
        f"{PREFIX}{slot}-reset-at": str(int(reset.timestamp())),
    }


def headers(key: KeyInfo, state: KeyState, now: datetime) -> dict[str, str]:
    limits = key.usage.get("limits") if isinstance(key.usage, dict) else None
    reported = set(limits) if isinstance(limits, dict) else set()
    if state.exhausted and state.exhausted_window:
        reported.add(state.exhausted_window)
    result = _window("session", "primary", key, state, now) if "session" in reported else {}
    if "weekly" in reported:
        result.update(_window("weekly", "secondary", key, state, now))
    elif "monthly" in reported:
        result.update(_window("monthly", "secondary", key, state, now))
    return result
