"""The dashboard plugin: a Sanic blueprint at /dashboard with server-rendered pages.

People register, sign in, create API keys, add Ollama Cloud keys (through the ``ollama_keys``
plugin's service when it is enabled), choose their model, and see usage; admins manage users.
Templates are rendered with one Jinja2 environment per app; CSS and JS are static files, so the
Content-Security-Policy allows no inline script.

Settings (``[plugins.dashboard]``): ``registration`` ("open", "approval" or "closed"); the
throttles' allowances ``signin_free_failures`` (per account, default 5),
``signin_free_failures_per_address`` (default 20), ``registrations_per_address`` (default 5) and
their ``throttle_window_seconds`` (default 900); see ``dashboard.throttle``. The audit log
(``dashboard.audit``) keeps entries ``audit_retention_days`` (default 180).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from dashboard import audit, sessions
from dashboard.routes import admin, auth, guide, home, keys, ollama_keys, usage
from dashboard.throttle import DashboardThrottles
from dashboard.web import (
    PREFIX,
    STATIC_DIR,
    add_security_headers,
    make_environment,
    not_found,
    registration_mode,
)
from proxy.api import PluginModels, hookimpl

if TYPE_CHECKING:
    from sanic import Sanic

    from config.settings import Settings
    from proxy.api import AccountEvent, AppState

NAME = "dashboard"
SESSION_CLEANUP_SECONDS = 3600.0
THROTTLE_CLEANUP_SECONDS = 300.0
AREAS = (auth, home, keys, ollama_keys, usage, admin, guide)


def build_blueprint() -> Blueprint:
    blueprint = Blueprint(NAME, url_prefix=PREFIX)
    for area in AREAS:
        for handler, path, methods in area.ROUTES:
            name = f"{area.__name__.rsplit('.', 1)[-1]}_{handler.__name__}_{methods[0].lower()}"
            blueprint.add_route(handler, path, methods=methods, name=name)
    blueprint.static("/static", STATIC_DIR, name="static")

    async def unknown_page(request: Request, path: str) -> HTTPResponse:
        if not path.strip("/") and request.method == "GET":  # the router hands "/dashboard/" here
            return await home.home(request)
        return not_found(request)

    # An HTML 404 with the security headers, rather than the app's JSON one.
    blueprint.add_route(unknown_page, "/<path:path>", methods=["GET", "POST"], name="unknown_page")
    blueprint.middleware(add_security_headers, "response")
    return blueprint


@hookimpl
def register_models() -> PluginModels:
    # Browser sessions and sign-in throttles.
    return PluginModels(modules=("dashboard.models",), migrations=Path(__file__).parent / "migrations")


@hookimpl
def register_routes(app: Sanic, settings: Settings) -> None:
    options = settings.plugin(NAME)
    app.ctx.dashboard_templates = make_environment()
    registration_mode(settings)  # a wrong value stops the start with a message naming the setting
    audit.retention_days(options)  # likewise
    app.ctx.dashboard_throttles = DashboardThrottles.from_options(options)
    app.blueprint(build_blueprint())
    app.add_route(home.root, "/", methods=["GET"], name="dashboard_root")


@hookimpl
async def account_event(event: AccountEvent) -> None:
    await audit.write(event)


@hookimpl
def startup(state: AppState) -> None:
    days = audit.retention_days(state.settings.plugin(NAME))

    async def purge_audit() -> None:
        await audit.purge(days)

    state.every(audit.PURGE_SECONDS, purge_audit)
    state.every(SESSION_CLEANUP_SECONDS, sessions.delete_expired)
    forget = DashboardThrottles.from_options(state.settings.plugin(NAME)).throttle.forget_old
    state.every(THROTTLE_CLEANUP_SECONDS, forget)
