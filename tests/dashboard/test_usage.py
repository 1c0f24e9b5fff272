"""Usage over 24 hours and 30 days, per API key and per Ollama key, on SQLite and PostgreSQL."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

from dashboard.usage_data import series, totals_by
from plugins.ollama_keys.candidates import usage_ref
from proxy.storage.models import UsageRecord, User
from tests.dashboard.conftest import DashboardClient, make_api_key, make_ollama_key, make_user


def record(user: User, when: datetime, api_key_id: int | None, ollama_key_id: int | None, tokens: tuple[int, int]) -> UsageRecord:
    """A usage row; ``ollama_key_id``: served through that key (the reference the recorder writes)."""
    return UsageRecord(
        created_at=when, user_id=user.id, api_key_id=api_key_id,
        upstream_ref=usage_ref(ollama_key_id) if ollama_key_id is not None else None, mode="bypass",
        status=200, input_tokens=tokens[0], output_tokens=tokens[1],
    )


def test_series_and_totals(start_gateway, database_url: str) -> None:
    gateway = start_gateway(database_url=database_url)
    user = make_user(gateway, "ann")
    other = make_user(gateway, "ben")
    api_key, _ = make_api_key(gateway, "ann")
    ollama_key = make_ollama_key(gateway, "ann")
    now = datetime.now(UTC).replace(minute=30)
    rows = [
        record(user, now, api_key.id, ollama_key.id, (10, 5)),
        record(user, now - timedelta(hours=1), api_key.id, None, (7, 3)),
        record(user, now - timedelta(days=3), api_key.id, ollama_key.id, (100, 50)),
        record(user, now - timedelta(days=40), api_key.id, None, (1000, 1000)),  # outside both windows
        record(other, now, None, None, (1, 1)),
    ]
    gateway.run(UsageRecord.bulk_create(rows))

    day = gateway.run(series("24h", user_id=user.id, now=now))
    assert len(day) == 24 and day[-1].totals.requests == 1 and day[-2].totals.requests == 1
    assert sum(b.totals.input_tokens for b in day) == 17
    month = gateway.run(series("30d", user_id=user.id, api_key_id=api_key.id, now=now))
    assert len(month) == 30 and sum(b.totals.requests for b in month) == 3
    assert month[-4].totals.input_tokens == 100
    by_ollama = gateway.run(series("30d", user_id=user.id, upstream_ref=usage_ref(ollama_key.id), now=now))
    assert sum(b.totals.requests for b in by_ollama) == 2
    everyone = gateway.run(series("24h", user_id=None, now=now))
    assert sum(b.totals.requests for b in everyone) == 3
    totals = gateway.run(totals_by("api_key_id", user_id=user.id))
    assert totals[api_key.id].requests == 4 and totals[api_key.id].output_tokens == 1058


def test_usage_pages_show_charts_and_tables(gateway, client_for) -> None:
    client: DashboardClient = client_for("ann")
    user = gateway.run(User.get(username="ann"))
    api_key, _ = make_api_key(gateway, "ann")
    ollama_key = make_ollama_key(gateway, "ann")
    gateway.run(UsageRecord.bulk_create([record(user, datetime.now(UTC), api_key.id, ollama_key.id, (1234, 567))]))
    page = html.unescape(client.get("/usage").text)
    assert page.count('<svg class="chart"') == 4
    assert "1,234" in page and "567" in page and api_key.name in page and ollama_key.name in page
    for path in (f"/usage/api-keys/{api_key.id}", f"/usage/ollama-keys/{ollama_key.id}"):
        detail = client.get(path)
        assert detail.status_code == 200 and "1,234" in detail.text and "Show as a table" in detail.text


def test_usage_of_a_removed_key_does_not_break_the_pages(gateway, client_for) -> None:
    """Removing a key keeps its usage rows; their reference then names nothing, and another
    plugin's references are not this plugin's keys."""
    client: DashboardClient = client_for("ann")
    user = gateway.run(User.get(username="ann"))
    kept, removed = make_ollama_key(gateway, "ann", "kept-cloud"), make_ollama_key(gateway, "ann", "gone-cloud")
    now = datetime.now(UTC)
    rows = [record(user, now, None, kept.id, (11, 1)), record(user, now, None, removed.id, (22, 2))]
    rows.append(UsageRecord(created_at=now, user_id=user.id, upstream_ref="other_plugin:x", mode="bypass", status=200,
                            input_tokens=33, output_tokens=3))
    gateway.run(UsageRecord.bulk_create(rows))
    gateway.run(gateway.state.services["ollama_keys"].remove(user.id, removed.id))
    assert gateway.run(UsageRecord.filter(user_id=user.id).count()) == 3  # nothing lost

    page = client.get("/usage")
    assert page.status_code == 200 and "gone-cloud" not in page.text
    assert gateway.run(totals_by("upstream_ref", user_id=user.id))[usage_ref(kept.id)].input_tokens == 11
    assert client.get(f"/usage/ollama-keys/{kept.id}").status_code == 200
    assert client.get(f"/usage/ollama-keys/{removed.id}").status_code == 404
    keys_page = client.get("/ollama-keys")
    assert keys_page.status_code == 200 and "kept-cloud" in keys_page.text and "gone-cloud" not in keys_page.text
