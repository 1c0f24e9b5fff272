"""What each Ollama Cloud answer means (pure)."""

from __future__ import annotations

import pytest

from plugins.ollama_keys.failures import Kind, classify
from tests.fake_ollama import CONCURRENCY_LIMIT, SESSION_LIMIT, WEEKLY_LIMIT


@pytest.mark.parametrize(
    ("status", "text", "kind", "window"),
    [
        (429, SESSION_LIMIT, Kind.USAGE_LIMIT, "session"),
        (429, WEEKLY_LIMIT, Kind.USAGE_LIMIT, "weekly"),
        (429, "you've reached your hourly usage limit", Kind.USAGE_LIMIT, "hourly"),
        (429, "You have reached your monthly usage limit.", Kind.USAGE_LIMIT, "monthly"),
        (429, "usage limit reached", Kind.USAGE_LIMIT, "unknown"),
        (429, "you've reached your daily usage limit", Kind.USAGE_LIMIT, "unknown"),
        (429, CONCURRENCY_LIMIT, Kind.CONCURRENCY, None),
        (429, "too many requests", Kind.CONCURRENCY, None),
        (401, "unauthorized", Kind.INVALID, None),
        (403, "this model requires a subscription", Kind.SUBSCRIPTION, None),
        (403, "forbidden", Kind.REQUEST, None),
        (500, "internal server error", Kind.SERVER, None),
        (503, "Server overloaded", Kind.SERVER, None),
        (None, "could not reach upstream k0: ConnectError", Kind.SERVER, None),
        (400, "bad request", Kind.REQUEST, None),
        (404, "model 'x' not found", Kind.REQUEST, None),
    ],
)
def test_classification(status: int | None, text: str, kind: Kind, window: str | None) -> None:
    result = classify(status, text)
    assert result.kind is kind
    assert result.window == window
