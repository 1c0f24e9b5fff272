"""``GET /v1/models`` from the serving upstream's ``/api/tags``, cached briefly per upstream."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from cachetools import TTLCache

from proxy.api import (
    AppState,
    RequestContext,
    Upstream,
    UpstreamError,
    fetch_json,
    hash_api_key,
    hookimpl,
    scrub_secrets,
)

NAME = "upstream_models"


def _created(modified_at: Any) -> int:
    if isinstance(modified_at, str):
        try:
            return int(datetime.fromisoformat(modified_at.replace("Z", "+00:00")).timestamp())
        except ValueError:
            pass
    return 0


def openai_models(tags: Any) -> list[dict[str, Any]]:
    models = tags.get("models") if isinstance(tags, dict) else None
    return [
        {
            "id": model.get("name") or model.get("model"),
            "object": "model",
            "created": _created(model.get("modified_at")),
            "owned_by": "ollama",
        }
        for model in models or ()
        if isinstance(model, dict) and (model.get("name") or model.get("model"))
    ]


async def upstream_tags(state: AppState, upstream: Upstream) -> list[dict[str, Any]]:
    """The upstream's models in the OpenAI shape; raises ``UpstreamError`` when it cannot say."""
    cache: TTLCache[str, list[dict[str, Any]]] = state.services.setdefault(
        NAME, TTLCache(maxsize=1024, ttl=state.settings.models_cache_seconds)
    )
    key = upstream.base_url + "|" + (hash_api_key(upstream.api_key) if upstream.api_key else "")
    models = cache.get(key)
    if models is None:
        try:
            status, tags = await fetch_json(state.http, upstream, "GET", "/api/tags")
        except httpx.HTTPError as exc:
            reason = scrub_secrets(str(exc), upstream.api_key)
            raise UpstreamError(f"could not reach upstream {upstream.label}: {reason}", code="upstream_unreachable") from exc
        if status != 200:
            raise UpstreamError(f"upstream {upstream.label} answered {status} to /api/tags", upstream_status=status)
        models = cache[key] = openai_models(tags)
    return models


@hookimpl(trylast=True)
async def list_models(ctx: RequestContext) -> list[dict[str, Any]]:
    candidates = await ctx.state.runner.call("select_upstream", ctx) or []
    if not candidates:
        return []
    return await upstream_tags(ctx.state, candidates[0])
