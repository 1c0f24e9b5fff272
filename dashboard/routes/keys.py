"""API keys: list, create (the secret is shown once), revoke after confirmation."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from sanic import Request
from sanic.response import HTTPResponse, redirect

from dashboard.sessions import set_cookie
from dashboard.usage_data import totals_by
from dashboard.web import PREFIX, audit, form_value, not_found, render, signed_in, state_of, user_id
from proxy.api import ApiKey, User, create_api_key, derive_key, hash_api_key, key_label, revoke_api_key

# The new secret travels to the page that shows it in a short-lived encrypted cookie, so the
# form is answered with a redirect (reloading cannot create a second key) and any worker can
# show it. The page deletes the cookie as it shows the secret: it is seen once.
NEW_KEY_COOKIE = "llmgate_new_key"
NEW_KEY_SECONDS = 120

AWAITING_APPROVAL = (
    "An administrator has not approved your account yet; API keys can be created once they have."
)

# One line each on the form; the guide explains them at length.
MODE_HINTS = {
    "emulator": "For Codex and other OpenAI Responses API clients: POST /v1/responses, served by your Ollama model.",
    "bypass": "Plain OpenAI chat completions passed straight to Ollama: POST /v1/chat/completions.",
}


def mode_choices(request: Request) -> list[tuple[str, str]]:
    modes = state_of(request).runner.modes
    order = sorted(modes, key=lambda name: (name != "emulator", name))
    return [(name, MODE_HINTS.get(name, modes[name].description)) for name in order]


def _sealer(request: Request) -> Fernet:
    fernet = getattr(request.app.ctx, "dashboard_new_key_fernet", None)
    if fernet is None:
        secret = state_of(request).settings.secret_bytes
        fernet = Fernet(base64.urlsafe_b64encode(derive_key(secret, b"dashboard-new-api-key")))
        request.app.ctx.dashboard_new_key_fernet = fernet
    return fernet


async def _new_key(request: Request) -> dict[str, object] | None:
    sealed = request.cookies.get(NEW_KEY_COOKIE)
    if not sealed or len(sealed) > 1024:
        return None
    try:
        plain = _sealer(request).decrypt(sealed.encode(), ttl=NEW_KEY_SECONDS).decode()
    except (InvalidToken, ValueError):  # expired, altered, or made with another secret
        return None
    key_id, _, secret = plain.partition(":")
    record = await ApiKey.filter(id=int(key_id) if key_id.isdigit() else 0, user_id=user_id(request), revoked_at=None).first()
    if record is None or record.key_hash != hash_api_key(secret):
        return None
    return {"record": record, "secret": secret}


async def _page(request: Request, status: int = 200, **context: object) -> HTTPResponse:
    keys = await ApiKey.filter(user_id=user_id(request)).order_by("-created_at")
    counts = await totals_by("api_key_id", user_id=user_id(request))
    context.setdefault("new_key", None)
    context.setdefault("name", "")
    context.setdefault("mode", "")
    return render(
        request, "keys.html", status=status,
        active=[k for k in keys if k.revoked_at is None],
        revoked=[k for k in keys if k.revoked_at is not None],
        counts=counts, modes=mode_choices(request), **context,
    )


async def _own_key(request: Request, key_id: int) -> ApiKey | None:
    return await ApiKey.filter(id=key_id, user_id=user_id(request), revoked_at=None).first()


@signed_in
async def keys_page(request: Request) -> HTTPResponse:
    new_key = await _new_key(request)
    response = await _page(request, new_key=new_key)
    if NEW_KEY_COOKIE in request.cookies:
        response.delete_cookie(NEW_KEY_COOKIE, path=PREFIX + "/keys")
    return response


@signed_in
async def create_key(request: Request) -> HTTPResponse:
    name = form_value(request, "name").strip()
    mode = form_value(request, "mode")
    if mode not in state_of(request).runner.modes:
        return await _page(request, 400, error="Choose a mode for the key.", name=name)
    if len(name) > 100:
        return await _page(request, 400, error="Names are at most 100 characters.", name=name, mode=mode)
    user = await User.get(id=user_id(request))
    if not user.approved:
        return await _page(request, 403, error=AWAITING_APPROVAL, name=name)
    api_key, secret = await create_api_key(user, mode, name)
    await audit(request, "api_key.created", subject=user.username, target=key_label(api_key))
    response = redirect(f"{PREFIX}/keys")
    sealed = _sealer(request).encrypt(f"{api_key.id}:{secret}".encode()).decode()
    set_cookie(request, response, NEW_KEY_COOKIE, sealed, NEW_KEY_SECONDS, path=PREFIX + "/keys", samesite="Strict")
    return response


@signed_in
async def revoke_page(request: Request, key_id: int) -> HTTPResponse:
    api_key = await _own_key(request, key_id)
    if api_key is None:
        return not_found(request)
    return render(request, "key_revoke.html", key=api_key)


@signed_in
async def revoke(request: Request, key_id: int) -> HTTPResponse:
    api_key = await _own_key(request, key_id)
    if api_key is None:
        return not_found(request)
    state = state_of(request)
    await revoke_api_key(api_key, state.settings.redis_url)  # other instances at once, with Redis
    state.invalidate_auth()  # this worker at once; without Redis, the others within the auth cache TTL
    await audit(request, "api_key.revoked", subject=request.ctx.session.user.username, target=key_label(api_key))
    return redirect(f"{PREFIX}/keys?done=revoked")


ROUTES = [
    (keys_page, "/keys", ["GET"]),
    (create_key, "/keys", ["POST"]),
    (revoke_page, "/keys/<key_id:int>/revoke", ["GET"]),
    (revoke, "/keys/<key_id:int>/revoke", ["POST"]),
]
