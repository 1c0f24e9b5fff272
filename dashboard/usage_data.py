"""Usage figures from ``UsageRecord``: totals per key and time series for the charts.

Time series are grouped in SQL by the UTC hour or day (text prefixes of the stored timestamp in
SQLite, ``to_char`` in PostgreSQL), so a busy month costs one small result set, not every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from tortoise.functions import Count, Sum

from dashboard.charts import Point
from proxy.api import UsageRecord

Step = Literal["hour", "day"]
WINDOWS: dict[str, tuple[Step, int]] = {"24h": ("hour", 24), "30d": ("day", 30)}


@dataclass(frozen=True)
class Totals:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class Bucket:
    start: datetime
    totals: Totals


async def totals_by(field: str, *, user_id: int | None, since: datetime | None = None) -> dict[Any, Totals]:
    """Totals grouped by ``field`` ("api_key_id", "upstream_ref" or "user_id")."""
    query = UsageRecord.all()
    if user_id is not None:
        query = query.filter(user_id=user_id)
    if since is not None:
        query = query.filter(created_at__gte=since)
    rows = (
        await query.annotate(requests=Count("id"), tokens_in=Sum("input_tokens"), tokens_out=Sum("output_tokens"))
        .group_by(field)
        .values(field, "requests", "tokens_in", "tokens_out")
    )
    return {
        row[field]: Totals(int(row["requests"] or 0), int(row["tokens_in"] or 0), int(row["tokens_out"] or 0))
        for row in rows
    }


def window_start(window: str, now: datetime | None = None) -> datetime:
    step, count = WINDOWS[window]
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if step == "hour":
        return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=count - 1)
    return now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=count - 1)


async def series(
    window: str,
    *,
    user_id: int | None,
    api_key_id: int | None = None,
    upstream_ref: str | None = None,
    now: datetime | None = None,
) -> list[Bucket]:
    """One bucket per hour (24h) or day (30d), oldest first, empty ones included."""
    step, count = WINDOWS[window]
    since = window_start(window, now)
    connection = UsageRecord._meta.db
    postgres = connection.capabilities.dialect == "postgres"
    filters: list[tuple[str, Any]] = [("created_at >= {}", since)]
    if user_id is not None:
        filters.append(("user_id = {}", user_id))
    if api_key_id is not None:
        filters.append(("api_key_id = {}", api_key_id))
    if upstream_ref is not None:
        filters.append(("upstream_ref = {}", upstream_ref))
    if postgres:
        pattern = "YYYY-MM-DD HH24" if step == "hour" else "YYYY-MM-DD"
        bucket = f"to_char(created_at AT TIME ZONE 'UTC', '{pattern}')"
        where = " AND ".join(sql.format(f"${i}") for i, (sql, _) in enumerate(filters, 1))
    else:
        # Tortoise stores UTC ISO text ("2026-11-25 20:30:00.1+00:00"): the prefix is the bucket.
        bucket = f"substr(created_at, 1, {13 if step == 'hour' else 10})"
        where = " AND ".join(sql.format("?") for sql, _ in filters)
    values = [since if postgres else since.isoformat(sep=" ")]
    values += [value for _, value in filters[1:]]
    sql = (
        f"SELECT {bucket} AS bucket, COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0) "
        f"FROM usage_records WHERE {where} GROUP BY bucket"
    )
    _, rows = await connection.execute_query(sql, values)
    found: dict[str, Totals] = {}
    for row in rows:
        key, requests, tokens_in, tokens_out = tuple(row.values()) if isinstance(row, dict) else tuple(row)
        found[str(key).replace("T", " ")] = Totals(int(requests), int(tokens_in), int(tokens_out))
    delta = timedelta(hours=1) if step == "hour" else timedelta(days=1)
    buckets = []
    for index in range(count):
        start = since + delta * index
        key = start.strftime("%Y-%m-%d %H" if step == "hour" else "%Y-%m-%d")
        buckets.append(Bucket(start, found.get(key, Totals())))
    return buckets


def chart_points(buckets: list[Bucket], *, tokens: bool) -> list[Point]:
    step_is_hour = len(buckets) > 1 and (buckets[1].start - buckets[0].start) < timedelta(days=1)
    points = []
    for bucket in buckets:
        label = bucket.start.strftime("%H:00") if step_is_hour else bucket.start.strftime("%b %d")
        values = (bucket.totals.input_tokens, bucket.totals.output_tokens) if tokens else (bucket.totals.requests,)
        points.append(Point(label, values))
    return points


def sum_buckets(buckets: list[Bucket]) -> Totals:
    return Totals(
        sum(b.totals.requests for b in buckets),
        sum(b.totals.input_tokens for b in buckets),
        sum(b.totals.output_tokens for b in buckets),
    )
