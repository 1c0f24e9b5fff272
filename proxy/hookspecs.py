"""The hooks every plugin may implement.

Implementations may be plain functions or ``async def``; ``proxy.runner.HookRunner`` awaits
whatever comes back before it decides, so an async implementation that returns None abstains
exactly like a sync one. Per-request hooks of a mode plugin (one named in a ``ModeSpec``) run only
for requests of that mode. Order follows pluggy: ``tryfirst``, then later registrations first,
then ``trylast``.

Hookwrappers are not supported: the runner calls implementations one by one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from sanic import Sanic

    from config.settings import Settings
    from proxy.context import (
        ClientResponse,
        ModeSpec,
        Principal,
        RequestContext,
        Upstream,
        UpstreamFailure,
        UpstreamRequest,
    )
    from proxy.errors import APIError
    from proxy.state import AppState

hookspec = pluggy.HookspecMarker("llmgate")
hookimpl = pluggy.HookimplMarker("llmgate")


# --- set-up -------------------------------------------------------------------------------


@hookspec
def register_modes() -> list[ModeSpec]:
    """Declare the modes this plugin serves. All results are concatenated; names must be unique."""


@hookspec
def register_routes(app: Sanic, settings: Settings) -> None:
    """Add routes or blueprints to the app (the dashboard, extra API routes). Every implementation runs."""


@hookspec
def startup(state: AppState) -> None:
    """Called once per worker after the database and upstream client are ready. Every implementation runs."""


@hookspec
def shutdown(state: AppState) -> None:
    """Called once per worker before it stops (flush buffers here). Every implementation runs."""


# --- the request pipeline, in the order it runs ----------------------------------------------


@hookspec(firstresult=True)
def authenticate(ctx: RequestContext) -> Principal | None:
    """Return who is calling, or None to abstain. First non-None result wins; none at all is a 401."""


@hookspec(firstresult=True)
def resolve_mode(ctx: RequestContext) -> str | None:
    """Return the name of the mode that handles this request. First non-None result wins."""


@hookspec(firstresult=True)
def transform_request(ctx: RequestContext) -> UpstreamRequest | None:
    """Validate ``ctx.body`` and build what is sent upstream. First non-None result wins.

    Raise ``proxy.errors.InvalidRequest`` for bad input. Runs before ``select_upstream``.
    """


@hookspec(firstresult=True)
def select_upstream(ctx: RequestContext) -> list[Upstream] | None:
    """Return the ordered candidates to try; failover walks the list. First non-None result wins.

    Return None to let a later plugin decide (the shared upstream is the last word).
    """


@hookspec(firstresult=True)
def upstream_attempt(ctx: RequestContext, upstream: Upstream) -> bool | None:
    """Called just before a candidate is tried; return False to skip it. First non-None wins.

    Lets a plugin skip a candidate that turned out unusable after ``select_upstream`` ran (a key
    another request just found exhausted). May await, e.g. the verdict of a probe in flight.
    """


@hookspec
def upstream_chosen(ctx: RequestContext, upstream: Upstream) -> None:
    """A candidate answered below 400 and serves this request. Every implementation runs.

    Runs before the client's status is committed unless the mode commits early (see
    ``ModeSpec.commit_after_seconds``), so ``ctx.response_headers`` set here usually reach the client.
    """


@hookspec(firstresult=True)
def classify_upstream_failure(ctx: RequestContext, failure: UpstreamFailure) -> bool | None:
    """Decide whether to try the next candidate (True) or give the error to the client (False).

    First non-None result wins; with none, connection failures and 5xx try the next candidate once.
    Implementations also record what the failure means (an exhausted key, an invalid key).
    """


@hookspec(firstresult=True)
def no_upstream_left(ctx: RequestContext) -> APIError | None:
    """Every candidate failed or was skipped: return the error the client gets. First non-None wins.

    ``ctx.failures`` holds the attempts; with no result the last failure is returned.
    """


@hookspec(firstresult=True)
def transform_response(ctx: RequestContext, status: int, body: bytes) -> ClientResponse | None:
    """Turn a complete upstream answer (non-streaming) into the client's. First non-None result wins."""


@hookspec
def stream_transform_response(ctx: RequestContext, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes] | None:
    """Wrap the stream of upstream bytes; each implementation's result feeds the next.

    Return None to leave the stream as it is. Called before the first byte is read, so the
    wrapper can emit events of its own before the upstream answers.
    """


@hookspec
def request_finished(ctx: RequestContext) -> None:
    """The response has been sent (or the client went away). Every implementation runs.

    Must not block: buffer what you record and write it later.
    """


@hookspec(firstresult=True)
def list_models(ctx: RequestContext) -> list[dict[str, Any]] | None:
    """Return the models for ``GET /v1/models`` as OpenAI model objects. First non-None wins."""
