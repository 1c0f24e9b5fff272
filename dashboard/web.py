"""What every dashboard page shares: templates, security headers, sign-in and CSRF checks."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sanic import Request
from sanic.response import HTTPResponse, redirect

from config.settings import Settings, SettingsError
from dashboard import charts, sessions
from proxy.api import AppState, record_account_event

PREFIX = "/dashboard"
STATIC_DIR = Path(__file__).with_name("static")

Handler = Callable[..., Awaitable[HTTPResponse]]

# Scripts and styles only from files under /dashboard/static: no inline script can run.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}

# Messages shown after a redirect (?done=<code>), so no user text is reflected from the URL.
NOTICES = {
    "registered": "Your account is ready. Sign in to continue.",
    "awaiting_approval": (
        "Your account was created. An administrator approves it before you can create API keys."
    ),
    "approved": "The user was approved and can create API keys now.",
    "user_created": "The account was created.",
    "quota_saved": "The quota was saved; every worker uses it within 10 seconds.",
    "signed_out": "You are signed out.",
    "revoked": "The API key was revoked. Clients using it are refused from now on.",
    "password": "Your password was changed. Other browsers were signed out.",
    "model": "Your model choice was saved.",
    "ollama_added": "The Ollama key was added.",
    "ollama_deleted": "The Ollama key was deleted.",
    "preferred": "The preferred Ollama key was changed.",
    "shared": "No key is preferred now: the shared upstream serves your requests.",
    "moved": "The order of your Ollama keys was changed.",
    "refreshing": "A refresh was requested; new figures appear within a minute.",
    "refresh_later": "Figures are fetched at most once every 10 minutes per key; they will refresh soon.",
    "rechecked": "Ollama Cloud accepts the key again.",
    "disabled": "The user was disabled; their API keys stop working within seconds.",
    "enabled": "The user was enabled again.",
}


def _asset_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.glob("*")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def _ago(when: datetime | None) -> str:
    if when is None:
        return "never"
    seconds = (datetime.now(UTC) - when).total_seconds()
    if seconds < 0:
        return _in(when)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' * (minutes != 1)} ago"
    if seconds < 86400 * 2:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' * (hours != 1)} ago"
    return f"{int(seconds // 86400)} days ago"


def _in(when: datetime | None) -> str:
    if when is None:
        return "unknown"
    seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds <= 0:
        return "now"
    if seconds < 3600:
        return f"in {max(1, int(seconds // 60))} min"
    if seconds < 86400 * 2:
        hours, rest = divmod(int(seconds), 3600)
        return f"in {hours} h {rest // 60} min"
    return f"in {int(seconds // 86400)} days"


def _when(when: datetime | None) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if when else "—"


def _number(value: int | float | None) -> str:
    return f"{int(value or 0):,}"


def make_environment() -> Environment:
    env = Environment(
        loader=PackageLoader("dashboard", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(ago=_ago, until=_in, when=_when, number=_number)
    env.globals.update(usage_bar=charts.usage_bar, asset_version=_asset_version(), prefix=PREFIX)
    return env


def state_of(request: Request) -> AppState:
    return request.app.ctx.state


def settings_of(request: Request) -> Settings:
    return state_of(request).settings


REGISTRATION_MODES = ("open", "approval", "closed")


def registration_mode(settings: Settings) -> str:
    """``[plugins.dashboard] registration``; the older ``registration_open = false`` means "closed"."""
    options = settings.plugin("dashboard")
    mode = str(options.get("registration", "open")).strip().lower()
    if mode not in REGISTRATION_MODES:
        raise SettingsError(f"plugins.dashboard.registration (LLMGATE_REGISTRATION) must be one of "
                            f"{', '.join(REGISTRATION_MODES)}, not {mode!r}")
    legacy = options.get("registration_open", True)
    if isinstance(legacy, str):
        legacy = legacy.strip().lower() not in ("0", "false", "no", "off", "")
    return "closed" if legacy is False else mode


def registration_open(settings: Settings) -> bool:
    return registration_mode(settings) != "closed"


def client_address(request: Request) -> str:
    """The client's address: from the trusted proxies' headers when configured, else the socket's."""
    return request.client_ip or "unknown"


def server_url(request: Request) -> str:
    """The URL users reach this server at: the configured public URL, else this request's."""
    configured = settings_of(request).public_url
    if configured:
        return configured
    scheme = "https" if sessions.is_https(request) else "http"
    return f"{scheme}://{request.host}"


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTTPResponse:
    env: Environment = request.app.ctx.dashboard_templates
    session = getattr(request.ctx, "session", None)
    pre_token, new_pre_token = sessions.pre_session_token(request)
    context.setdefault("error", None)
    context.setdefault("notice", NOTICES.get(request.args.get("done", ""), None))
    html = env.get_template(template).render(
        user=session.user if session else None,
        csrf_token=session.csrf_token if session else pre_token,
        path=request.path,
        registration_open=registration_open(settings_of(request)),
        **context,
    )
    response = HTTPResponse(html, status=status, content_type="text/html; charset=utf-8")
    if session is None and new_pre_token:
        sessions.set_cookie(request, response, sessions.PRE_CSRF_COOKIE, pre_token, None)
    return response


def not_found(request: Request) -> HTTPResponse:
    """The same answer for "does not exist" and "is not yours", so ids reveal nothing."""
    return render(request, "message.html", status=404, title="Not found",
                  message="There is nothing here, or it is not yours.")


def add_security_headers(request: Request, response: HTTPResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith(PREFIX + "/static/"):
        response.headers.setdefault("cache-control", "public, max-age=3600")
    else:
        # Pages carry CSRF tokens and personal figures (and once, a new API key's secret).
        response.headers["cache-control"] = "no-store"


def signed_in(handler: Handler) -> Handler:
    """Load the session (or send the browser to sign in) and check the CSRF token of every POST."""

    @wraps(handler)
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        session = await sessions.load_session(request)
        if session is None:
            target = request.path if request.method == "GET" else PREFIX + "/"
            return redirect(f"{PREFIX}/signin?next={quote(target)}")
        request.ctx.session = session
        if request.method == "POST" and not sessions.tokens_match(session.csrf_token, form_value(request, "csrf_token")):
            return csrf_failure(request)
        return await handler(request, *args, **kwargs)

    return wrapper


def admin_only(handler: Handler) -> Handler:
    """For admins only; everyone else gets the same 404 as for a page that does not exist."""

    @wraps(handler)
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        if not request.ctx.session.user.is_admin:
            return not_found(request)
        return await handler(request, *args, **kwargs)

    return signed_in(wrapper)


def csrf_failure(request: Request) -> HTTPResponse:
    return render(
        request, "message.html", status=403, title="Form expired",
        message="This form is out of date or was not sent from this site. Reload the page and try again.",
    )


def form_value(request: Request, name: str) -> str:
    try:
        form = request.form
    except Exception:  # a body that is not a form: treat as empty
        return ""
    value = form.get(name) if form else None
    return value if isinstance(value, str) else ""


def user_id(request: Request) -> int:
    return request.ctx.session.user_id  # type: ignore[no-any-return]


async def audit(
    request: Request, action: str, *, actor: str | None = None, subject: str = "", target: str = "", details: str = ""
) -> None:
    """Record an action taken in this request (``proxy.audit``): the signed-in user, or ``actor``,
    from the client's address. Never pass a secret."""
    session = getattr(request.ctx, "session", None)
    who = actor if actor is not None else (session.user.username if session else "")
    await record_account_event(
        state_of(request).runner, who, action,
        subject=subject, target=target, address=client_address(request), details=details,
    )
