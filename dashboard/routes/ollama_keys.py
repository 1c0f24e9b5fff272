"""Ollama Cloud keys: add (checked upstream), delete, make preferred, reorder, resources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sanic import Request
from sanic.response import HTTPResponse, redirect

from dashboard import ollama
from dashboard.usage_data import totals_by
from dashboard.web import PREFIX, audit, form_value, not_found, render, signed_in, state_of, user_id
from plugins.ollama_keys.candidates import key_id_of
from proxy.api import AccountError

GATEWAY_COUNTS_WINDOW = timedelta(days=30)


async def _page(request: Request, status: int = 200, **context: Any) -> HTTPResponse:
    state = state_of(request)
    enabled = ollama.service(state) is not None
    views = await ollama.key_views(state, user_id(request)) if enabled else []
    since = datetime.now(UTC) - GATEWAY_COUNTS_WINDOW
    by_ref = await totals_by("upstream_ref", user_id=user_id(request), since=since) if views else {}
    counts = {key_id: totals for ref, totals in by_ref.items() if (key_id := key_id_of(ref)) is not None}
    context.setdefault("name", "")
    return render(
        request, "ollama_keys.html", status=status, enabled=enabled, keys=views, counts=counts,
        limits=ollama.limits, now=datetime.now(UTC), **context,
    )


def _disabled(request: Request) -> HTTPResponse | None:
    if ollama.service(state_of(request)) is None:
        return render(request, "ollama_keys.html", status=404, enabled=False, keys=[], counts={}, name="")
    return None


@signed_in
async def ollama_keys_page(request: Request) -> HTTPResponse:
    return await _page(request)


@signed_in
async def add_key(request: Request) -> HTTPResponse:
    if (answer := _disabled(request)) is not None:
        return answer
    name = form_value(request, "name").strip()
    secret = form_value(request, "secret").strip()
    try:
        preferred = form_value(request, "preferred") == "1"
        key = await ollama.service(state_of(request)).add(  # type: ignore[union-attr]
            user_id(request), name, secret, preferred=preferred
        )
    except AccountError as error:  # the plugin's OllamaKeyError: the upstream's reason, never the secret
        return await _page(request, 400, error=str(error), name=name)
    await audit(request, "ollama_key.added", subject=_me(request), target=ollama_key_label(key),
                details="preferred" if preferred else "")
    return redirect(f"{PREFIX}/ollama-keys?done=ollama_added")


def ollama_key_label(key: Any) -> str:
    """How the audit log names an Ollama key: id, masked form, label; never the key."""
    return f"ollama key {key.id} ({key.masked}, {key.name!r})"


def _me(request: Request) -> str:
    return request.ctx.session.user.username  # type: ignore[no-any-return]


# Operations the audit log records, by the action name it records them under.
AUDITED = {"prefer": "ollama_key.preferred", "delete": "ollama_key.removed"}


async def _act(request: Request, operation: str, key_id: int) -> str:
    """Do ``operation`` on the user's key; returns the notice code for the redirect."""
    service, owner = ollama.service(state_of(request)), user_id(request)
    assert service is not None
    if operation == "prefer":
        await service.make_preferred(owner, key_id)
        return "preferred"
    if operation == "up":
        await service.move_up(owner, key_id)
        return "moved"
    if operation == "down":
        await service.move_down(owner, key_id)
        return "moved"
    if operation == "refresh":
        return "refreshing" if service.request_refresh(key_id) else "refresh_later"
    if operation == "recheck":
        reason = await service.recheck(owner, key_id)
        if reason is not None:
            raise AccountError(f"Ollama Cloud still refuses this key ({reason}).")
        return "rechecked"
    await service.remove(owner, key_id)
    return "ollama_deleted"


def _action(operation: str):  # type: ignore[no-untyped-def]
    @signed_in
    async def handler(request: Request, key_id: int) -> HTTPResponse:
        if (answer := _disabled(request)) is not None:
            return answer
        key = await ollama.own_key(user_id(request), key_id)
        if key is None:
            return not_found(request)
        try:
            notice = await _act(request, operation, key_id)
        except AccountError as error:
            return await _page(request, 400, error=str(error))
        if operation in AUDITED:
            await audit(request, AUDITED[operation], subject=_me(request), target=ollama_key_label(key))
        return redirect(f"{PREFIX}/ollama-keys?done={notice}")

    handler.__name__ = f"ollama_key_{operation}"
    return handler


@signed_in
async def use_shared(request: Request) -> HTTPResponse:
    if (answer := _disabled(request)) is not None:
        return answer
    await ollama.service(state_of(request)).make_preferred(user_id(request), None)  # type: ignore[union-attr]
    await audit(request, "ollama_key.preferred", subject=_me(request), target="the shared upstream")
    return redirect(f"{PREFIX}/ollama-keys?done=shared")


@signed_in
async def delete_page(request: Request, key_id: int) -> HTTPResponse:
    if (answer := _disabled(request)) is not None:
        return answer
    key = await ollama.own_key(user_id(request), key_id)
    if key is None:
        return not_found(request)
    return render(request, "ollama_key_delete.html", key=key)


ROUTES = [
    (ollama_keys_page, "/ollama-keys", ["GET"]),
    (add_key, "/ollama-keys", ["POST"]),
    (use_shared, "/ollama-keys/shared", ["POST"]),
    (_action("prefer"), "/ollama-keys/<key_id:int>/prefer", ["POST"]),
    (_action("up"), "/ollama-keys/<key_id:int>/up", ["POST"]),
    (_action("down"), "/ollama-keys/<key_id:int>/down", ["POST"]),
    (_action("refresh"), "/ollama-keys/<key_id:int>/refresh", ["POST"]),
    (_action("recheck"), "/ollama-keys/<key_id:int>/recheck", ["POST"]),
    (delete_page, "/ollama-keys/<key_id:int>/delete", ["GET"]),
    (_action("delete"), "/ollama-keys/<key_id:int>/delete", ["POST"]),
]
