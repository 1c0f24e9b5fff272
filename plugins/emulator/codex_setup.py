"""Connect Codex: a ready ``config.toml`` provider entry and a model catalog for the emulated names.

Both are public (no API key): they hold no secret, only this server's address and model metadata.
The catalog's context window comes from the upstream model's ``/api/show`` (cached); a caller that
sends an emulator key gets the window of the model that key's user has selected.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from cachetools import TTLCache
from sanic import Request

from plugins.shared_upstream import shared_upstream
from proxy.context import Endpoint, RequestContext, Upstream
from proxy.errors import APIError
from proxy.model_choice import chosen_model
from proxy.pipeline import authorize, new_context
from proxy.state import AppState
from proxy.upstream import fetch_json, upstream_model

from .config import EmulatorSettings

CONFIG_PATH = "/v1/codex/config.toml"
CATALOG_PATH = "/v1/codex/catalog.json"
ENV_KEY = "LLMGATE_API_KEY"
PROVIDER = "llmgate"
_CACHE = "emulator.context_windows"
_CACHE_SECONDS = 600

BASE_INSTRUCTIONS = """\
You are Codex, a coding agent working in the user's terminal and workspace. Be precise, safe and helpful.
- Read before you change: inspect files and run commands with the shell tool (exec_command).
- Edit files with the apply_patch tool: its input is a patch in the *** Begin Patch / *** End Patch format.
- Keep changes minimal and focused on the task; follow the code's existing style.
- When you run tests or commands, report what you saw. When done, answer briefly with what you did."""


def base_url(request: Request, public_url: str) -> str:
    """The address clients reach this server at: the configured public URL, else the request's host."""
    if public_url:
        return public_url.rstrip("/")
    return f"{request.scheme}://{request.host}"


def config_toml(server_url: str, config: EmulatorSettings) -> str:
    api = json.dumps(server_url + "/v1")
    catalog = server_url + CATALOG_PATH
    return f"""\
# Codex CLI provider entry for this llmgate server (codex-cli >= 0.169).
# 1. Merge this into ~/.codex/config.toml (top-level keys above the first [table]).
# 2. Create an *emulator* API key on the dashboard and export {ENV_KEY}=<that key>.
# 3. Optional, recommended: save {catalog} as ~/.codex/llmgate-catalog.json and
#    uncomment model_catalog_json below (an absolute path), so Codex knows the model's metadata.
model = {json.dumps(config.default_model)}
model_provider = "{PROVIDER}"
# model_catalog_json = "/home/<you>/.codex/llmgate-catalog.json"

[model_providers.{PROVIDER}]
name = "llmgate"
base_url = {api}
env_key = "{ENV_KEY}"
wire_api = "responses"
# The gateway answers 429 with Retry-After when a retry can help, and sends an event at least every
# {config.heartbeat_seconds:g} s while the model is busy, so a short idle timeout is safe.
request_max_retries = 4
stream_max_retries = 5
stream_idle_timeout_ms = {max(60_000, int(config.heartbeat_seconds * 6000))}
"""


def catalog_entry(slug: str, context_window: int, instructions: str) -> dict[str, Any]:
    """Model metadata as Codex's `model_catalog_json` expects it (see tests/data/codex/)."""
    return {
        "slug": slug,
        "display_name": slug,
        "supported_in_api": True,
        "priority": 1,
        "visibility": "list",
        "shell_type": "shell_command",
        "support_verbosity": True,
        "default_verbosity": "medium",
        "truncation_policy": {"mode": "tokens", "limit": 10000},
        "supported_reasoning_levels": [
            {"effort": effort, "description": effort} for effort in ("low", "medium", "high")
        ],
        "default_reasoning_level": "medium",
        "experimental_supported_tools": [],
        "model_messages": None,
        "base_instructions": instructions,
        "context_window": context_window,
        "apply_patch_tool_type": "freeform",
        "supports_reasoning_summaries": True,
        "default_reasoning_summary": "auto",
        "supports_parallel_tool_calls": True,
        "input_modalities": ["text"],
    }


async def context_window(state: AppState, upstream: Upstream, model: str) -> int | None:
    """``<arch>.context_length`` from ``/api/show``, cached; None when the upstream cannot say."""
    cache: TTLCache[tuple[str, str], int | None] = state.services.setdefault(
        _CACHE, TTLCache(maxsize=512, ttl=_CACHE_SECONDS)
    )
    name = upstream_model(upstream, model)
    key = (upstream.base_url, name)
    if key in cache:
        return cache[key]
    try:
        status, data = await fetch_json(state.http, upstream, "POST", "/api/show", {"model": name})
    except httpx.HTTPError:
        return None  # not cached: the next call may reach it
    window = None
    info = data.get("model_info") if status == 200 and isinstance(data, dict) else None
    if isinstance(info, dict):
        for field, value in info.items():
            if field.endswith(".context_length") and isinstance(value, int) and value > 0:
                window = value
                break
    cache[key] = window
    return window


async def catalog(request: Request, config: EmulatorSettings, instructions: str) -> dict[str, Any]:
    state: AppState = request.app.ctx.state
    upstream, model = shared_upstream(state.settings), state.settings.default_model
    if request.headers.get("authorization"):
        ctx: RequestContext = new_context(request, Endpoint("GET", CATALOG_PATH))
        try:
            await authorize(ctx)
        except APIError:
            pass  # public either way: a bad key only loses the personal model choice
        else:
            model = chosen_model(ctx)
            candidates = await state.runner.first("select_upstream", ctx) or []
            upstream = candidates[0] if candidates else upstream
    window = await context_window(state, upstream, model) or config.fallback_context_window
    return {"models": [catalog_entry(slug, window, instructions) for slug in config.models]}
