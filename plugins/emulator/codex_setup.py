"""Connect Codex: a ready ``config.toml`` provider entry and a model catalog for the emulated names.

Both are public (no API key): they hold no secret, only this server's address and model metadata.
The catalog's context window comes from the upstream model's ``/api/show`` (cached); a caller that
sends an emulator key gets the window of the model that key's user has selected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from cachetools import TTLCache
from sanic import Request

from config.settings import SettingsError
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
