"""Usage rows written in batches read back through the ORM exactly as the dashboard reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from proxy.storage.models import UsageRecord
from tests.fake_ollama import FakeOllama, Reply
from tests.support.accounts import make_key


def test_batched_rows_read_back_through_the_orm(start_gateway, database_url: str, fake: FakeOllama) -> None:
    gateway = start_gateway(database_url=database_url)
    key = make_key(gateway)
    before = datetime.now(UTC) - timedelta(seconds=1)
    fake.queue(Reply(content="one two three"))
    body = {"model": "qwen3:8b", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(gateway.url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}).status_code == 200
    httpx.post(gateway.url + "/v1/chat/completions", json={"messages": "bad"}, headers={"authorization": f"Bearer {key}"})
    gateway.run(gateway.state.services["usage_recorder"].flush())

    rows = gateway.run(UsageRecord.filter(created_at__gte=before).order_by("id"))
    assert [(r.mode, r.status, r.model, r.upstream, r.upstream_ref, r.stream) for r in rows] == [
        ("bypass", 200, "qwen3:8b", "shared", None, False),  # the shared upstream: no plugin's reference
        ("bypass", 400, None, None, None, False),
    ]
    assert rows[0].output_tokens > 0 and rows[0].input_tokens > 0 and rows[0].duration_ms >= 0
    assert rows[0].created_at.tzinfo is not None and before <= rows[0].created_at <= datetime.now(UTC)


def test_a_batch_written_again_after_a_lost_commit_is_counted_once(start_gateway, database_url: str, fake: FakeOllama) -> None:
    """The database can commit a batch and go away before its answer arrives: the recorder keeps
    the rows and writes them again. Each row carries its request's id, so none is counted twice."""
    gateway = start_gateway(database_url=database_url)
    key = make_key(gateway)
    fake.queue(Reply(content="one two three"), times=3)
    body = {"model": "qwen3:8b", "messages": [{"role": "user", "content": "hi"}]}
    answers = [
        httpx.post(gateway.url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})
        for _ in range(3)
    ]
    buffer = gateway.state.services["usage_recorder"]
    batch = list(buffer.pending)
    gateway.run(buffer.flush())
    buffer.pending = batch + buffer.pending  # as after a failure reported for a commit that went through
    gateway.run(buffer.flush())

    rows = gateway.run(UsageRecord.all().order_by("id"))
    assert [row.request_id for row in rows] == [answer.headers["x-request-id"] for answer in answers]
