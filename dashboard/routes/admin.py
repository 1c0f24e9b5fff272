"""Administration: every user, disabling and enabling them, global usage, and the audit log."""

from __future__ import annotations

from urllib.parse import urlencode

from sanic import Request
from sanic.response import HTTPResponse, redirect

from dashboard import audit as audit_log
from dashboard.models import DashboardSession
from dashboard.routes.usage import per_key_totals, windows
from dashboard.web import (
    PREFIX,
    admin_only,
    audit,
    form_value,
    not_found,
    registration_mode,
    render,
    settings_of,
    state_of,
    user_id,
)
from proxy.api import AccountError, ApiKey, User, announce_auth_change, create_user


async def _admin_page(
    request: Request, status: int = 200, error: str | None = None, new_username: str = ""
) -> HTTPResponse:
    users = await User.all().order_by("username")
    active_keys: dict[int, int] = {}
    for owner in await ApiKey.filter(revoked_at=None).values_list("user_id", flat=True):
        active_keys[owner] = active_keys.get(owner, 0) + 1  # type: ignore[index]
    return render(
        request, "admin.html", status=status, error=error,
        users=users, active_keys=active_keys, new_username=new_username,
        registration=registration_mode(settings_of(request)),
        user_totals=await per_key_totals("user_id", None),
        windows=await windows(user_id=None),
        quotas=_quota_view(request),
    )


# --- token quotas (the quotas plugin's service; absent when it is disabled) ---------------------


def _quota_view(request: Request) -> dict[str, object] | None:
    service = state_of(request).services.get("quotas")
    if service is None:
        return None
    return {"defaults": service.defaults, "overrides": dict(service.overrides)}


def _quota_field(request: Request, name: str) -> int | None:
    """Blank: the configured default; otherwise a whole number >= 0 (0: unlimited)."""
    raw = form_value(request, name).strip().replace(",", "").replace("_", "")
    if not raw:
        return None
    if not raw.isdigit():
        raise ValueError(f"{name.replace('_', ' ')} must be a whole number (0: unlimited) or blank for the default")
    return int(raw)


def _quota_words(daily: int | None, monthly: int | None) -> str:
    def shown(value: int | None) -> str:
        return "default" if value is None else ("unlimited" if value == 0 else str(value))

    return f"daily {shown(daily)}, monthly {shown(monthly)}"


@admin_only
async def set_quota(request: Request, target_id: int) -> HTTPResponse:
    service = state_of(request).services.get("quotas")
    target = await User.filter(id=target_id).first()
    if service is None or target is None:
        return not_found(request)
    try:
        daily, monthly = _quota_field(request, "daily_tokens"), _quota_field(request, "monthly_tokens")
    except ValueError as error:
        return await _admin_page(request, status=400, error=str(error))
    await service.set_quota(target_id, daily, monthly)
    await audit(request, "quota.set", subject=target.username, details=_quota_words(daily, monthly))
    return redirect(f"{PREFIX}/admin?done=quota_saved")


admin_page = admin_only(_admin_page)


def _set_disabled(disabled: bool):  # type: ignore[no-untyped-def]
    @admin_only
    async def handler(request: Request, target_id: int) -> HTTPResponse:
        target = await User.filter(id=target_id).first()
        if target is None:
            return not_found(request)
        if target.id == user_id(request):
            return await _admin_page(request, status=400, error="You cannot disable your own account.")
        target.disabled = disabled
        await target.save(update_fields=["disabled"])
        if disabled:
            await DashboardSession.filter(user_id=target.id).delete()
        # This worker forgets cached keys at once; the others at once with Redis, else within the TTL.
        state_of(request).invalidate_auth()
        await announce_auth_change(state_of(request).settings.redis_url)
        await audit(request, "user.disabled" if disabled else "user.enabled", subject=target.username)
        return redirect(f"{PREFIX}/admin?done={'disabled' if disabled else 'enabled'}")

    handler.__name__ = "disable_user" if disabled else "enable_user"
    return handler


@admin_only
async def approve_user(request: Request, target_id: int) -> HTTPResponse:
    target = await User.filter(id=target_id).first()
    if target is None:
        return not_found(request)
    await User.filter(id=target_id).update(approved=True)
    await audit(request, "user.approved", subject=target.username)
    return redirect(f"{PREFIX}/admin?done=approved")


@admin_only
async def add_user(request: Request) -> HTTPResponse:
    """Accounts made by an admin: the way in when registration is closed."""
    username = form_value(request, "username").strip()
    try:
        is_admin = form_value(request, "is_admin") == "1"
        created = await create_user(username, form_value(request, "password"), is_admin=is_admin)
    except AccountError as error:
        status = 409 if "taken" in str(error) else 400
        return await _admin_page(request, status=status, error=str(error), new_username=username)
    await audit(request, "user.created", subject=created.username, details="admin" if is_admin else "")
    return redirect(f"{PREFIX}/admin?done=user_created")


@admin_only
async def audit_page(request: Request) -> HTTPResponse:
    """The audit log, newest first, filtered by user, action and date range, a page at a time."""
    args = {name: request.args.get(name, "") for name in ("user", "action", "since", "until", "page")}
    selection, error = audit_log.AuditFilter.from_args(args)
    rows, more = await audit_log.entries(selection)
    return render(
        request, "audit.html", status=400 if error else 200, error=error,
        rows=rows, more=more, selection=selection, actions=audit_log.ACTIONS,
        retention_days=audit_log.retention_days(settings_of(request).plugin("dashboard")),
        query=lambda **changes: urlencode({**{k: v for k, v in args.items() if v}, **changes}),
    )


ROUTES = [
    (admin_page, "/admin", ["GET"]),
    (audit_page, "/admin/audit", ["GET"]),
    (approve_user, "/admin/users/<target_id:int>/approve", ["POST"]),
    (add_user, "/admin/users", ["POST"]),
    (set_quota, "/admin/users/<target_id:int>/quota", ["POST"]),
    (_set_disabled(True), "/admin/users/<target_id:int>/disable", ["POST"]),
    (_set_disabled(False), "/admin/users/<target_id:int>/enable", ["POST"]),
]
