"""The hooks: users' Ollama Cloud keys as upstream candidates, with failover and shared marks.

select_upstream      the preferred key, then the user's other keys by position, minus those known
                     exhausted or invalid (None without a preferred key: the shared upstream serves)
upstream_attempt     skip a key another request just found exhausted; gate probes of unverified keys
upstream_chosen      the key answered well: confirm it, set the Codex quota headers
classify_upstream_failure  what the answer means (see failures.py); mark the key and its account
no_upstream_left     every key exhausted or invalid: 429 usage_limit_reached with resets_at
request_finished     record failed attempts (batched)
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from plugins.ollama_keys import quota
from plugins.ollama_keys.candidates import KeyInfo
from plugins.ollama_keys.failures import Kind, classify
from plugins.ollama_keys.models import UpstreamAttempt
from plugins.ollama_keys.service import OllamaKeysService, Options
from plugins.ollama_keys.windows import reset_after
from plugins.shared_upstream import NAME as SHARED
from plugins.shared_upstream import shared_upstream
from proxy.api import APIError, AppState, PluginModels, RequestContext, Upstream, UpstreamFailure, hookimpl

NAME = "ollama_keys"
ATTEMPT_FLUSH_SECONDS = 1.0
PERIODIC_SECONDS = 60.0


def service(state: AppState) -> OllamaKeysService:
    return state.services[NAME]


def _keys(ctx: RequestContext) -> list[KeyInfo]:
    return ctx.meta.get(NAME) or []


def _key_of(ctx: RequestContext, upstream: Upstream) -> KeyInfo | None:
    if upstream.owner != NAME:
        return None
    return next((k for k in _keys(ctx) if k.id == upstream.ref), None)


def _set_quota_headers(ctx: RequestContext, key: KeyInfo | None) -> None:
    svc = service(ctx.state)
    if ctx.mode not in svc.options.quota_header_modes:
        return
    for name in [h for h in ctx.response_headers if h.startswith(quota.PREFIX)]:
        del ctx.response_headers[name]
    if key is not None:
        now = datetime.now(UTC)
        ctx.response_headers.update(quota.headers(key, svc.directory.state(key, now), now))


@hookimpl
def startup(state: AppState) -> None:
    svc = state.services[NAME] = OllamaKeysService(state, Options.from_settings(state.settings))
    state.every(ATTEMPT_FLUSH_SECONDS, svc.attempts.flush)
    state.every(PERIODIC_SECONDS, svc.periodic)


@hookimpl
async def shutdown(state: AppState) -> None:
    await service(state).attempts.flush()


@hookimpl(tryfirst=True)
async def select_upstream(ctx: RequestContext) -> list[Upstream] | None:
    principal = ctx.principal
    if principal is None:
        return None
    svc = service(ctx.state)
    keys = await svc.directory.keys_for(principal.user_id)  # cached: no query per request
    preferred = next((k for k in keys if k.preferred), None)
    if preferred is None:
        return None  # no preferred key (or it was removed): the shared upstream serves
    ordered = [preferred, *(k for k in keys if k is not preferred)]
    ctx.meta[NAME] = ordered
    now = datetime.now(UTC)
    usable = [k for k in ordered if k.upstream is not None and svc.directory.state(k, now).usable]
    candidates: list[Upstream] = [k.upstream for k in usable]  # type: ignore[misc]
    if svc.options.shared_fallback:
        shared = ctx.state.services.get(SHARED) or ctx.state.services.setdefault(SHARED, shared_upstream(ctx.settings))
        candidates.append(shared)
    # Provisional: a mode that commits before the upstream answers sends these; upstream_chosen
    # replaces them with the serving key's when it can.
    _set_quota_headers(ctx, usable[0] if usable else None)
    return candidates


@hookimpl
async def upstream_attempt(ctx: RequestContext, upstream: Upstream) -> bool | None:
    key = _key_of(ctx, upstream)
    if key is None:
        return None
    return None if await service(ctx.state).directory.admit(key, ctx.request_id) else False


@hookimpl
def upstream_chosen(ctx: RequestContext, upstream: Upstream) -> None:
    key = _key_of(ctx, upstream)
    if NAME in ctx.meta:
        _set_quota_headers(ctx, key)
    if key is None:
        return
    svc = service(ctx.state)
    svc.directory.confirm(key.id, ctx.request_id)
    now = datetime.now(UTC)
    if key.exhausted_until is not None and key.exhausted_until <= now:
        ctx.state.spawn(svc.clear_lapsed(key.id, key.account_id, now))


@hookimpl
def classify_upstream_failure(ctx: RequestContext, failure: UpstreamFailure) -> bool | None:
    key = _key_of(ctx, failure.upstream)
    if key is None:
        return None
    svc = service(ctx.state)
    verdict = classify(failure.status, failure.message)
    now = datetime.now(UTC)
    message = f"{failure.status} {failure.message}" if failure.status else failure.message
    try:
        if verdict.kind is Kind.USAGE_LIMIT:
            window = verdict.window or "unknown"
            until = reset_after(window, now)
            if svc.directory.mark_exhausted(key, now, until, window):
                ctx.state.spawn(svc.store_exhausted(key.id, key.account_id, now, until, window, message))
            return True
        if verdict.kind is Kind.INVALID:
            if svc.directory.mark_invalid(key, now):
                ctx.state.spawn(svc.store_invalid(key.id, now, message))
            return True
        if verdict.kind in (Kind.CONCURRENCY, Kind.SUBSCRIPTION):
            return True
        if verdict.kind is Kind.SERVER:
            return None  # the core's rule: the next candidate once, then the error
        return False
    finally:
        svc.directory.release(key.id, ctx.request_id)


def _state_text(key: KeyInfo, svc: OllamaKeysService, now: datetime) -> tuple[str, datetime | None]:
    if key.upstream is None:
        return f"{key.name!r} cannot be read (the server secret changed; add it again)", None
    state = svc.directory.state(key, now)
    if state.invalid:
        return f"{key.name!r} was refused by Ollama Cloud as invalid (check or replace it)", None
    if state.exhausted:
        window = state.exhausted_window or "unknown"
        label = f"its {window} usage limit" if window != "unknown" else "a usage limit"
        if state.exhausted_until is None:
            return f"{key.name!r} reached {label} (until Ollama Cloud reports it below the limit)", None
        when = state.exhausted_until.strftime("%Y-%m-%d %H:%M UTC")
        return f"{key.name!r} reached {label} (resets about {when})", state.exhausted_until
    return f"{key.name!r} is available", None


@hookimpl
def no_upstream_left(ctx: RequestContext) -> APIError | None:
    keys = _keys(ctx)
    svc = service(ctx.state) if keys else None
    if svc is None or svc.options.shared_fallback:
        return None
    now = datetime.now(UTC)
    if any(k.upstream is not None and svc.directory.state(k, now).usable for k in keys):
        return None  # a key failed for a passing reason: the core reports that failure
    texts, resets = [], []
    for key in keys:
        text, reset = _state_text(key, svc, now)
        texts.append(text)
        if reset is not None:
            resets.append(reset)
    message = "All your Ollama keys are used up: " + "; ".join(texts) + "."
    extra, headers = {}, {}
    if resets:
        earliest = min(resets)
        extra["resets_at"] = int(earliest.timestamp())
        headers["retry-after"] = str(max(1, int((earliest - now).total_seconds())))
    return APIError(
        message, status=429, type="usage_limit_reached", code="usage_limit_reached", extra=extra, headers=headers
    )


@hookimpl
def request_finished(ctx: RequestContext) -> None:
    svc = ctx.state.services.get(NAME)
    if svc is None:
        return
    for key in _keys(ctx):
        svc.directory.release(key.id, ctx.request_id)  # a probe that ended without a verdict
    if not ctx.failures:
        return
    now = datetime.now(UTC)
    for failure in ctx.failures:
        upstream = failure.upstream
        svc.attempts.pending.append(
            UpstreamAttempt(
                created_at=now,
                user_id=ctx.user_id,
                ollama_key_id=upstream.ref,
                upstream=upstream.label[:200],
                status=failure.status,
                message=failure.message[:2000],  # scrubbed when the failure was made
            )
        )


@hookimpl
def register_models() -> PluginModels:
    # The preferred key per user (the keys' own table is still the core's).
    return PluginModels(modules=("plugins.ollama_keys.models",), migrations=Path(__file__).parent / "migrations")


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction) -> None:
    from plugins.ollama_keys.cli import add_commands

    add_commands(subparsers)
