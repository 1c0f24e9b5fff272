"""Connect Codex: a ready ``config.toml`` provider entry and a model catalog for the emulated names.

Both are public (no API key): they hold no secret, only this server's address and model metadata.
The catalog's context window is the one the model really gets (``context_window``); a caller that
sends an emulator key gets the window of the model that key's user has selected.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from cachetools import TTLCache
from sanic import Request

from config.settings import SettingsError
from plugins.shared_upstream import is_cloud_url, shared_upstream
from proxy.api import AppState, RequestContext, Upstream, chosen_model, fetch_json

from .config import EmulatorSettings

CONFIG_PATH = "/v1/codex/config.toml"
CATALOG_PATH = "/v1/codex/catalog.json"
ENV_KEY = "LLMGATE_API_KEY"
PROVIDER = "llmgate"
_CACHE = "emulator.context_windows"
_CACHE_SECONDS = 600
_LOADED_CACHE = "emulator.loaded_contexts"
# Windows being looked up in the background, so a burst of requests starts one lookup, not many.
_REFRESHING = "emulator.context_refreshing"
# The last answer of context_window per (base URL, model, num_ctx) with the time it goes stale.
_KNOWN = "emulator.known_windows"
_KNOWN_MAX = 1024

INSTRUCTIONS_FILE = Path(__file__).with_name("codex_instructions.md")
CATALOG_FILE = "llmgate-catalog.json"


def base_instructions(table: Mapping[str, Any]) -> str:
    """The system prompt the catalog carries: Codex sends it in place of its own, so it must be complete.

    ``codex_base_instructions`` (text) wins over ``codex_base_instructions_file`` (a path) over the
    built-in ``codex_instructions.md``.
    """
    text = table.get("codex_base_instructions")
    if text is not None and not isinstance(text, str):
        raise SettingsError("plugins.emulator.codex_base_instructions must be a string")
    if text:
        return text
    path = table.get("codex_base_instructions_file") or INSTRUCTIONS_FILE
    if not isinstance(path, (str, Path)):
        raise SettingsError("plugins.emulator.codex_base_instructions_file must be a path")
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"plugins.emulator.codex_base_instructions_file: cannot read {path}: {exc}") from exc
    if not text.strip():
        raise SettingsError(f"plugins.emulator.codex_base_instructions_file: {path} is empty")
    return text


def base_url(request: Request, public_url: str) -> str:
    """The address clients reach this server at: the configured public URL, else the request's host."""
    if public_url:
        return public_url.rstrip("/")
    return f"{request.scheme}://{request.host}"


def install_command(server_url: str) -> str:
    """One shell line that saves the catalog and puts the provider settings at the top of config.toml.

    Prepending (not appending) keeps the top-level keys out of whatever ``[table]`` the file ends with;
    the file's own content follows unchanged. Codex reads a relative ``model_catalog_json`` from its home
    directory (where config.toml is), so the line works for ``$CODEX_HOME`` as well as ``~/.codex``.
    """
    return (
        'd="${CODEX_HOME:-$HOME/.codex}" && mkdir -p "$d" && touch "$d/config.toml"'
        f' && curl -fsS -H "Authorization: Bearer $LLMGATE_API_KEY" {server_url}{CATALOG_PATH} -o "$d/{CATALOG_FILE}"'
        f' && curl -fsS {server_url}{CONFIG_PATH} | cat - "$d/config.toml" > "$d/config.toml.new"'
        ' && mv "$d/config.toml.new" "$d/config.toml"'
    )


def config_toml(server_url: str, config: EmulatorSettings) -> str:
    provider = f"model_providers.{PROVIDER}"
    return f"""\
# Codex CLI (0.169 and later) settings for the llmgate server at {server_url}.
# Set up in one step: export LLMGATE_API_KEY=<an *emulator* key from the dashboard>, then run
#
#   {install_command(server_url)}
#
# It saves the model catalog as {CATALOG_FILE} beside config.toml and puts these lines at the top of
# config.toml (run it once). The catalog is required: its base_instructions are the whole system prompt
# Codex sends (they replace Codex's built-in prompt), and without it Codex offers no apply_patch tool
# and warns "Model metadata for {config.default_model} not found". To use a prompt of your own, add
# model_instructions_file = "/path/to/prompt.md": it replaces the catalog's text.
model = {json.dumps(config.default_model)}
model_provider = "{PROVIDER}"
model_catalog_json = "{CATALOG_FILE}"  # relative to the Codex home, where this file is
# The provider as dotted keys, not a [table], so these lines can sit above the tables of your config.
{provider}.name = "llmgate"
{provider}.base_url = {json.dumps(server_url + "/v1")}
{provider}.env_key = "{ENV_KEY}"
{provider}.wire_api = "responses"
# The gateway answers 429 with Retry-After when a retry can help, and sends an event at least every
# {config.heartbeat_seconds:g} s while the model is busy, so a short idle timeout is safe.
{provider}.request_max_retries = 4
{provider}.stream_max_retries = 5
{provider}.stream_idle_timeout_ms = {max(60_000, int(config.heartbeat_seconds * 6000))}
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


def _cache(state: AppState, name: str, ttl: float) -> TTLCache[tuple[str, str], int | None]:
    cache = state.services.get(name)
    if cache is None:
        cache = state.services[name] = TTLCache(maxsize=512, ttl=ttl)
    return cache


def _tagged(name: str) -> str:
    """Ollama treats "llama3.2" and "llama3.2:latest" as one model."""
    return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"


def _smallest(*windows: int | None) -> int | None:
    known = [w for w in windows if w]
    return min(known) if known else None


async def _own_context_length(state: AppState, upstream: Upstream, name: str) -> int | None:
    """``<arch>.context_length`` from ``/api/show``: the most the model was trained for."""
    cache = _cache(state, _CACHE, _CACHE_SECONDS)
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


async def _loaded_context_length(state: AppState, upstream: Upstream, name: str) -> int | None:
    """The context a loaded model runs at, from ``/api/ps`` (Ollama >= 0.9.7); None when not loaded."""
    cache = _cache(state, _LOADED_CACHE, state.settings.models_cache_seconds)
    key = (upstream.base_url, name)
    if key in cache:
        return cache[key]
    try:
        status, data = await fetch_json(state.http, upstream, "GET", "/api/ps")
    except httpx.HTTPError:
        return None
    window = None
    models = data.get("models") if status == 200 and isinstance(data, dict) else None
    for entry in models if isinstance(models, list) else ():
        if not isinstance(entry, dict):
            continue
        names = {_tagged(str(entry.get(field) or "")) for field in ("name", "model")}
        length = entry.get("context_length")
        if _tagged(name) in names and isinstance(length, int) and length > 0:
            window = length
            break
    cache[key] = window
    return window


def _num_ctx(upstream: Upstream) -> int | None:
    value = upstream.chat_option("num_ctx")
    return value if isinstance(value, int) and value > 0 else None


async def context_window(state: AppState, upstream: Upstream, model: str) -> int | None:
    """The window the model really gets on ``upstream``; None when the upstream cannot say.

    Never more than the model's own context length (``/api/show``) nor the upstream's ``num_ctx``.
    Without ``num_ctx`` a self-hosted Ollama runs the model at whatever context loaded it, which
    ``/api/ps`` reports while it is loaded; Ollama Cloud runs every model at its full context.
    """
    name = upstream.model_name(model)
    own = await _own_context_length(state, upstream, name)
    num_ctx = _num_ctx(upstream)
    # Metadata changes rarely; a failed /api/show (not cached) and a loaded context soon might.
    shown = (upstream.base_url, name) in _cache(state, _CACHE, _CACHE_SECONDS)
    fresh_for = _CACHE_SECONDS if shown else state.settings.models_cache_seconds
    if num_ctx is not None or is_cloud_url(upstream.base_url, state.settings.ollama_cloud_url):
        window = _smallest(own, num_ctx)
    else:
        window = _smallest(own, await _loaded_context_length(state, upstream, name))
        fresh_for = state.settings.models_cache_seconds
    known: dict[tuple[str, str, int | None], tuple[int | None, float]] = state.services.setdefault(_KNOWN, {})
    if len(known) >= _KNOWN_MAX:
        known.clear()
    known[(upstream.base_url, name, num_ctx)] = (window, time.monotonic() + fresh_for)
    return window


def known_context_window(state: AppState, upstream: Upstream, model: str) -> int | None:
    """``context_window`` as last looked up, without a round trip (this runs on every attempt).

    A stale or missing answer starts a lookup in the background; meanwhile the stale answer, else
    ``num_ctx`` alone, is what is known.
    """
    num_ctx = _num_ctx(upstream)
    key = (upstream.base_url, upstream.model_name(model), num_ctx)
    entry = state.services.get(_KNOWN, {}).get(key)
    if entry is None or entry[1] <= time.monotonic():
        refreshing: set[tuple[str, str, int | None]] = state.services.setdefault(_REFRESHING, set())
        if key not in refreshing:
            refreshing.add(key)
            task = state.spawn(context_window(state, upstream, model))
            task.add_done_callback(lambda _: refreshing.discard(key))
    if entry is None:
        return num_ctx
    return entry[0]


async def catalog(ctx: RequestContext, config: EmulatorSettings, instructions: str) -> dict[str, Any]:
    state: AppState = ctx.state
    upstream, model = shared_upstream(state.settings), state.settings.default_model
    if ctx.principal is not None:
        # Public either way: a missing or bad key only loses the personal model choice.
        model = chosen_model(ctx)
        candidates = await state.runner.call("select_upstream", ctx) or []
        upstream = candidates[0] if candidates else upstream
    window = await context_window(state, upstream, model) or config.fallback_context_window
    return {"models": [catalog_entry(slug, window, instructions) for slug in config.models]}
