"""Register, sign in, sign out, change password."""

from __future__ import annotations

import asyncio
from functools import cache

from sanic import Request
from sanic.response import HTTPResponse, redirect

from dashboard import sessions
from dashboard.throttle import SignInThrottle
from dashboard.web import PREFIX, form_value, registration_open, render, settings_of, signed_in, user_id
from proxy.accounts import AccountError, check_password, create_user
from proxy.security import hash_password, verify_password
from proxy.storage.models import User

WRONG_CREDENTIALS = "Wrong username or password."


@cache
def _dummy_hash() -> str:
    """Verified when the username does not exist, so both failures take the same time."""
    return hash_password("not a real password, only here to spend the same time")


async def _verify(password_hash: str, password: str) -> bool:
    # argon2 is deliberately slow: keep it off the event loop that also serves the API.
    return await asyncio.get_running_loop().run_in_executor(None, verify_password, password_hash, password)


def _safe_next(target: str) -> str:
    """Only paths inside the dashboard: never another site (open redirect)."""
    if target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return PREFIX + "/"


def _pre_csrf_ok(request: Request) -> bool:
    return sessions.tokens_match(request.cookies.get(sessions.PRE_CSRF_COOKIE), form_value(request, "csrf_token"))


def _form_expired(request: Request, template: str, **context: object) -> HTTPResponse:
    return render(
        request, template, status=403,
        error="This form expired or your browser blocked its cookie. Please try again.", **context,
    )


async def signin_page(request: Request) -> HTTPResponse:
    if await sessions.load_session(request) is not None:
        return redirect(PREFIX + "/")
    return render(request, "signin.html", username="", next=_safe_next(request.args.get("next", "")))


async def signin(request: Request) -> HTTPResponse:
    username = form_value(request, "username").strip()
    password = form_value(request, "password")
    target = _safe_next(form_value(request, "next"))
    context = {"username": username, "next": target}
    if not _pre_csrf_ok(request):
        return _form_expired(request, "signin.html", **context)
    throttle: SignInThrottle = request.app.ctx.dashboard_throttle
    address = request.remote_addr or request.ip or "unknown"
    wait = throttle.retry_after(username, address)
    if wait > 0:
        return render(
            request, "signin.html", status=429,
            error=f"Too many failed sign-ins. Wait {int(wait) + 1} seconds, then try again.", **context,
        )
    if not username or not password:
        return render(request, "signin.html", status=400, error="Enter your username and password.", **context)
    user = await User.filter(username=username).first()
    valid = await _verify(user.password_hash if user else _dummy_hash(), password)
    if user is None or not valid:
        throttle.failed(username, address)
        return render(request, "signin.html", status=401, error=WRONG_CREDENTIALS, **context)
    if user.disabled:
        return render(
            request, "signin.html", status=403,
            error="This account is disabled. Ask an administrator of this server.", **context,
        )
    throttle.succeeded(username)
    response = redirect(target)
    await sessions.start_session(request, response, user)
    return response


async def register_page(request: Request) -> HTTPResponse:
    if not registration_open(settings_of(request)):
        return render(request, "register.html", status=403, username="", closed=True)
    return render(request, "register.html", username="", closed=False)


async def register(request: Request) -> HTTPResponse:
    username = form_value(request, "username").strip()
    password = form_value(request, "password")
    if not registration_open(settings_of(request)):
        return render(request, "register.html", status=403, username="", closed=True)
    if not _pre_csrf_ok(request):
        return _form_expired(request, "register.html", username=username, closed=False)
    try:
        await create_user(username, password)
    except AccountError as error:
        status = 409 if "taken" in str(error) else 400
        return render(request, "register.html", status=status, error=str(error), username=username, closed=False)
    return redirect(f"{PREFIX}/signin?done=registered")


@signed_in
async def signout(request: Request) -> HTTPResponse:
    await sessions.end_session(request)
    response = redirect(f"{PREFIX}/signin?done=signed_out")
    sessions.clear_session_cookie(response)
    return response


@signed_in
async def account_page(request: Request) -> HTTPResponse:
    return render(request, "account.html")


@signed_in
async def change_password(request: Request) -> HTTPResponse:
    user = await User.get(id=user_id(request))
    current = form_value(request, "current_password")
    new = form_value(request, "new_password")
    if not await _verify(user.password_hash, current):
        return render(request, "account.html", status=400, error="The current password is not right.")
    try:
        check_password(new, user.username)
    except AccountError as error:
        return render(request, "account.html", status=400, error=str(error))
    user.password_hash = hash_password(new)
    await user.save(update_fields=["password_hash"])
    await sessions.end_other_sessions(user.id, keep=request.ctx.session)
    return redirect(f"{PREFIX}/account?done=password")


ROUTES = [
    (signin_page, "/signin", ["GET"]),
    (signin, "/signin", ["POST"]),
    (register_page, "/register", ["GET"]),
    (register, "/register", ["POST"]),
    (signout, "/signout", ["POST"]),
    (account_page, "/account", ["GET"]),
    (change_password, "/account/password", ["POST"]),
]
