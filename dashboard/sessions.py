"""Dashboard sign-in sessions and CSRF tokens.

The browser holds a random session id in an HttpOnly, SameSite=Lax cookie (Secure behind https);
the database keeps only its SHA-256, so a leaked table cannot be replayed. A new id is issued at
every sign-in, which defeats session fixation. Each session carries its own CSRF token, checked on
every form. Forms shown before sign-in (sign-in, register) use a double-submit cookie instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from sanic import Request
from sanic.response import HTTPResponse

from dashboard.models import DashboardSession
from proxy.api import User

SESSION_COOKIE = "llmgate_session"
PRE_CSRF_COOKIE = "llmgate_csrf"  # double-submit token for the forms shown before sign-in
SESSION_LIFETIME = timedelta(days=14)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_https(request: Request) -> bool:
    """Behind a TLS-terminating proxy the scheme arrives in X-Forwarded-Proto."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return forwarded == "https" or request.scheme == "https"


def set_cookie(
    request: Request,
    response: HTTPResponse,
    name: str,
    value: str,
    max_age: int | None,
    *,
    path: str = "/",
    samesite: str = "Lax",
) -> None:
    response.add_cookie(
        name,
        value,
        path=path,
        httponly=True,
        samesite=samesite,  # type: ignore[arg-type]
        secure=is_https(request),
        max_age=max_age,
    )


def tokens_match(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


async def start_session(request: Request, response: HTTPResponse, user: User) -> DashboardSession:
    """Sign ``user`` in: a fresh id (any old session from this browser is ended) and CSRF token."""
    await end_session(request)
    token = secrets.token_urlsafe(32)
    session = await DashboardSession.create(
        id=_hash(token),
        user=user,
        csrf_token=secrets.token_urlsafe(32),
        expires_at=datetime.now(UTC) + SESSION_LIFETIME,
    )
    set_cookie(request, response, SESSION_COOKIE, token, int(SESSION_LIFETIME.total_seconds()))
    return session


async def load_session(request: Request) -> DashboardSession | None:
    """The signed-in session of this request with its user, or None (expired, disabled user...)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 128:
        return None
    session = await DashboardSession.filter(id=_hash(token)).select_related("user").first()
    if session is None:
        return None
    if session.expires_at <= datetime.now(UTC) or session.user.disabled:
        await session.delete()
        return None
    return session


async def end_session(request: Request) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token and len(token) <= 128:
        await DashboardSession.filter(id=_hash(token)).delete()


def clear_session_cookie(response: HTTPResponse) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


async def end_other_sessions(user_id: int, keep: DashboardSession | None) -> None:
    query = DashboardSession.filter(user_id=user_id)
    if keep is not None:
        query = query.exclude(id=keep.id)
    await query.delete()


async def delete_expired() -> None:
    await DashboardSession.filter(expires_at__lte=datetime.now(UTC)).delete()


def pre_session_token(request: Request) -> tuple[str, bool]:
    """The double-submit token for this browser, and whether it is new (must be set as a cookie)."""
    token = request.cookies.get(PRE_CSRF_COOKIE)
    if token and 20 <= len(token) <= 128:
        return token, False
    return secrets.token_urlsafe(32), True
