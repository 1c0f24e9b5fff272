"""Register, sign in, sign out, change password.

Every password check is throttled before it runs (``dashboard.throttle``) and runs in the small
password thread pool (``proxy.security``), never on the event loop that serves the API.
"""

from __future__ import annotations

from functools import cache

from sanic import Request
from sanic.response import HTTPResponse, redirect

from dashboard import audit as audit_log
from dashboard import sessions
from dashboard.throttle import DashboardThrottles, address_key
from dashboard.web import (
    PREFIX,
    audit,
    client_address,
    form_value,
    registration_mode,
    render,
    settings_of,
    signed_in,
    user_id,
)
from proxy.api import (
    AccountError,
    User,
    check_new_account,
    check_password,
    create_user,
    hash_password,
    hash_password_off_loop,
    in_password_pool,
    verify_password_off_loop,
)

WRONG_CREDENTIALS = "Wrong username or password."


@cache
def _dummy_hash() -> str:
    """Verified when the username does not exist, so both failures take the same time."""
    return hash_password("not a real password, only here to spend the same time")


def _throttles(request: Request) -> DashboardThrottles:
    return request.app.ctx.dashboard_throttles  # type: ignore[no-any-return]


def _too_many(request: Request, template: str, wait: float, what: str, **context: object) -> HTTPResponse:
    seconds = int(wait)
    error = f"Too many {what}. Wait {seconds} seconds, then try again."
    response = render(request, template, status=429, error=error, **context)
    response.headers["retry-after"] = str(seconds)
    return response


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
    if not username or not password:
        return render(request, "signin.html", status=400, error="Enter your username and password.", **context)
    throttles = _throttles(request)
    address = address_key(client_address(request))
    # The slots are taken before the check, so parallel guesses cannot all be checked.
    wait = await throttles.throttle.take(throttles.signin_address, address)
    if not wait:
        wait = await throttles.throttle.take(throttles.signin_account, username.lower())
        if wait:  # refused for the account: this attempt costs the address nothing
            await throttles.throttle.give_back(throttles.signin_address, address)
    if wait:
        return _too_many(request, "signin.html", wait, "failed sign-ins", **context)
    user = await User.filter(username=username).first()
    password_hash = user.password_hash if user else await in_password_pool(_dummy_hash)
    valid = await verify_password_off_loop(password_hash, password)
    if user is None or not valid:
        # An unknown name is not kept: it may be a password typed into the wrong field.
        await audit(request, "signin.failed", actor=user.username if user else "",
                    subject=user.username if user else "",
                    details="unknown user" if user is None else "wrong password")
        return render(request, "signin.html", status=401, error=WRONG_CREDENTIALS, **context)
    await throttles.throttle.clear(throttles.signin_account, username.lower())
    await throttles.throttle.give_back(throttles.signin_address, address)
    if user.disabled:
        await audit(request, "signin.failed", actor=username, subject=user.username, details="account disabled")
        return render(
            request, "signin.html", status=403,
            error="This account is disabled. Ask an administrator of this server.", **context,
        )
    response = redirect(target)
    await sessions.start_session(request, response, user)
    await audit(request, "signin", actor=user.username, subject=user.username)
    return response


async def register_page(request: Request) -> HTTPResponse:
    mode = registration_mode(settings_of(request))
    status = 403 if mode == "closed" else 200
    closed, approval = mode == "closed", mode == "approval"
    return render(request, "register.html", status=status, username="", closed=closed, approval=approval)


async def register(request: Request) -> HTTPResponse:
    username = form_value(request, "username").strip()
    password = form_value(request, "password")
    mode = registration_mode(settings_of(request))
    context = {"username": username, "closed": False, "approval": mode == "approval"}
    if mode == "closed":
        return render(request, "register.html", status=403, username="", closed=True, approval=False)
    if not _pre_csrf_ok(request):
        return _form_expired(request, "register.html", **context)
    try:
        check_new_account(username, password)  # cheap checks first: a typo costs no attempt
    except AccountError as error:
        return render(request, "register.html", status=400, error=str(error), **context)
    throttles = _throttles(request)
    wait = await throttles.throttle.take(throttles.registration_address, address_key(client_address(request)))
    if wait:
        return _too_many(request, "register.html", wait, "new accounts from your address", **context)
    try:
        user = await create_user(username, password, approved=mode != "approval", first_becomes_admin=True)
    except AccountError as error:
        status = 409 if "taken" in str(error) else 400
        return render(request, "register.html", status=status, error=str(error), **context)
    done = "registered" if user.approved else "awaiting_approval"
    await audit(request, "user.registered", actor=user.username, subject=user.username,
                details=_account_state(user))
    return redirect(f"{PREFIX}/signin?done={done}")


@signed_in
async def signout(request: Request) -> HTTPResponse:
    await sessions.end_session(request)
    response = redirect(f"{PREFIX}/signin?done=signed_out")
    sessions.clear_session_cookie(response)
    return response


def _account_state(user: User) -> str:
    parts = ["admin" if user.is_admin else "", "approved" if user.approved else "awaiting approval"]
    return ", ".join(part for part in parts if part)


async def _account(request: Request, status: int = 200, error: str | None = None) -> HTTPResponse:
    signins = await audit_log.signins_of(request.ctx.session.user.username)
    return render(request, "account.html", status=status, error=error, signins=signins)


@signed_in
async def account_page(request: Request) -> HTTPResponse:
    return await _account(request)


@signed_in
async def change_password(request: Request) -> HTTPResponse:
    user = await User.get(id=user_id(request))
    current = form_value(request, "current_password")
    new = form_value(request, "new_password")
    try:
        check_password(new, user.username)
    except AccountError as error:
        return await _account(request, status=400, error=str(error))
    throttles = _throttles(request)
    # A stolen session must not become a way to guess the password at full speed.
    wait = await throttles.throttle.take(throttles.password_account, str(user.id))
    if wait:
        return _too_many(request, "account.html", wait, "wrong current passwords")
    if not await verify_password_off_loop(user.password_hash, current):
        return await _account(request, status=400, error="The current password is not right.")
    await throttles.throttle.clear(throttles.password_account, str(user.id))
    user.password_hash = await hash_password_off_loop(new)
    await user.save(update_fields=["password_hash"])
    await sessions.end_other_sessions(user.id, keep=request.ctx.session)
    await audit(request, "password.changed", subject=user.username)
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
