"""Usage per API key and per Ollama key: requests and tokens over 24 hours and 30 days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup
from sanic import Request
from sanic.response import HTTPResponse

from dashboard.charts import bar_chart
from dashboard.usage_data import Bucket, Totals, chart_points, series, sum_buckets, totals_by, window_start
from dashboard.web import not_found, render, signed_in, user_id
from plugins.ollama_keys.candidates import key_id_of, usage_ref
from plugins.ollama_keys.models import OllamaKey
from proxy.api import ApiKey


@dataclass
class Window:
    key: str
    title: str
    buckets: list[Bucket]
    requests_chart: Markup
    tokens_chart: Markup
    totals: Totals


async def windows(*, user_id: int | None, api_key_id: int | None = None, upstream_ref: str | None = None) -> list[Window]:
    shown = []
    for key, title, label_every in (("24h", "Last 24 hours", 3), ("30d", "Last 30 days", 5)):
        buckets = await series(key, user_id=user_id, api_key_id=api_key_id, upstream_ref=upstream_ref)
        shown.append(
            Window(
                key, title, buckets,
                bar_chart(chart_points(buckets, tokens=False), title=f"Requests, {title.lower()}",
                          series=("requests",), label_every=label_every),
                bar_chart(chart_points(buckets, tokens=True), title=f"Tokens, {title.lower()}",
                          series=("tokens in", "tokens out"), label_every=label_every),
                sum_buckets(buckets),
            )
        )
    return shown


async def per_key_totals(field: str, uid: int | None) -> dict[str, dict[object, Totals]]:
    return {
        window: await totals_by(field, user_id=uid, since=window_start(window, datetime.now(UTC)))
        for window in ("24h", "30d")
    }


async def per_ollama_key_totals(uid: int | None) -> dict[str, dict[object, Totals]]:
    """Per key id; usage of keys since removed is left out (their rows keep a reference to nothing)."""
    by_ref = await per_key_totals("upstream_ref", uid)
    return {
        window: {key_id: totals for ref, totals in rows.items() if (key_id := key_id_of(ref)) is not None}
        for window, rows in by_ref.items()
    }


@signed_in
async def usage_page(request: Request) -> HTTPResponse:
    uid = user_id(request)
    return render(
        request, "usage.html",
        windows=await windows(user_id=uid),
        api_keys=await ApiKey.filter(user_id=uid).order_by("-created_at"),
        ollama_keys=await OllamaKey.filter(user_id=uid).order_by("position", "id"),
        api_key_totals=await per_key_totals("api_key_id", uid),
        ollama_key_totals=await per_ollama_key_totals(uid),
    )


@signed_in
async def api_key_usage(request: Request, key_id: int) -> HTTPResponse:
    key = await ApiKey.filter(id=key_id, user_id=user_id(request)).first()
    if key is None:
        return not_found(request)
    return render(request, "usage_detail.html", kind="API key", key=key,
                  windows=await windows(user_id=user_id(request), api_key_id=key.id))


@signed_in
async def ollama_key_usage(request: Request, key_id: int) -> HTTPResponse:
    key = await OllamaKey.filter(id=key_id, user_id=user_id(request)).first()
    if key is None:
        return not_found(request)
    return render(request, "usage_detail.html", kind="Ollama key", key=key,
                  windows=await windows(user_id=user_id(request), upstream_ref=usage_ref(key.id)))


ROUTES = [
    (usage_page, "/usage", ["GET"]),
    (api_key_usage, "/usage/api-keys/<key_id:int>", ["GET"]),
    (ollama_key_usage, "/usage/ollama-keys/<key_id:int>", ["GET"]),
]
