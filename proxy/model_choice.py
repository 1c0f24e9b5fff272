"""Which upstream model serves a request when the client leaves it open."""

from __future__ import annotations

from proxy.context import RequestContext


def chosen_model(ctx: RequestContext) -> str:
    """The user's selected model, else the server's default."""
    principal = ctx.principal
    if principal is not None and principal.selected_model:
        return principal.selected_model
    return ctx.settings.default_model
