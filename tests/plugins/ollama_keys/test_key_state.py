"""One definition of a key's state: what routing uses is what the dashboard shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from plugins.ollama_keys.candidates import KeyDirectory, key_info
from plugins.ollama_keys.keys import key_state
from plugins.ollama_keys.models import OllamaKey
from proxy.security import SecretBox

BOX = SecretBox(b"key-state-test-secret-0123456789abcdef")
NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def row(**marks: object) -> OllamaKey:
    key = OllamaKey(
        id=7, name="main", position=0, masked="sk-…abcd", account_id=None, plan=None,
        secret_encrypted=BOX.encrypt("secret-abcd"), usage=None, **marks,
    )  # fmt: skip
    key.user_id = 1  # the foreign key's column; no database is needed to judge the marks
    return key


@pytest.mark.parametrize(
    ("marks", "shown"),
    [
        ({}, "ok"),
        ({"exhausted_since": NOW - 2 * HOUR, "exhausted_until": NOW - HOUR, "exhausted_window": "session"}, "ok"),
        ({"exhausted_since": NOW - 2 * HOUR, "exhausted_until": NOW + HOUR, "exhausted_window": "session"},
         "exhausted"),
        ({"exhausted_since": NOW - 2 * HOUR, "exhausted_until": None, "exhausted_window": "unknown"}, "exhausted"),
        ({"exhausted_since": NOW - 2 * HOUR, "exhausted_until": NOW, "exhausted_window": "hourly"}, "ok"),
        ({"invalid_since": NOW - HOUR}, "invalid"),
    ],
)  # fmt: skip
def test_dashboard_and_routing_agree(marks: dict[str, object], shown: str) -> None:
    key = row(**marks)
    routing = KeyDirectory(BOX, "https://ollama.com").state(key_info(key, BOX, "https://ollama.com"), NOW)
    assert key_state(key, BOX, NOW) == shown
    assert routing.usable == (shown == "ok")
    assert routing.exhausted == (shown == "exhausted")
    assert routing.invalid == (shown == "invalid")


def test_a_fresh_mark_of_this_worker_is_routing_only_until_it_is_stored() -> None:
    key = row()
    directory = KeyDirectory(BOX, "https://ollama.com")
    info = key_info(key, BOX, "https://ollama.com")
    assert directory.mark_exhausted(info, NOW, NOW + HOUR, "session")
    assert directory.state(info, NOW).exhausted
    # Once the window has passed, the worker's own mark no longer counts either.
    assert directory.state(info, NOW + 2 * HOUR).usable
