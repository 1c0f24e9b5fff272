"""Resolves the mode from the API key: each key carries the mode it was created with."""

from __future__ import annotations

from proxy.api import RequestContext, hookimpl


@hookimpl(trylast=True)
def resolve_mode(ctx: RequestContext) -> str | None:
    return ctx.principal.mode if ctx.principal else None
