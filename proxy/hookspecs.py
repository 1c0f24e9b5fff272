"""The hooks every plugin may implement.

Each spec says when it runs, what it is given, what its result means and how results combine;
docs/plugins.md documents each with an example. Plugins import ``hookimpl`` and everything else
from ``proxy.api``. Only ``proxy.runner.HookRunner`` calls hooks; it reads the combination rule from the spec:

- ``firstresult=True``: implementations run in order until one returns something other than None;
  that result is the hook's answer (None when all abstain).
- collect (no marker): every implementation runs; the answer is the list of non-None results.
- ``@observer``: every implementation runs for its side effects. An exception is logged with the
  plugin's name and swallowed, so a failing observer never harms the request (or the start-up).
- ``@chained("arg")``: each implementation receives the previous one's result as ``arg``;
  None leaves the value as it was.
- ``@around``: middleware, composed around the whole request (see ``wrap_request``).

Implementations may be plain functions or ``async def``; the runner awaits whatever comes back
before it decides, so an async implementation that returns None abstains exactly like a sync one.
Per-request hooks of a mode plugin (one named in a ``ModeSpec``) run only for requests of that
mode; hooks that run before the mode is known (``wrap_request``, ``authenticate``,
``resolve_mode``) therefore run only the implementations of plugins that are not modes. Order
follows pluggy: ``tryfirst``, then later registrations first, then ``trylast``. pluggy's own
``hookwrapper``/``wrapper`` implementations (generators, which cannot await) are refused when the
runner is built: ``wrap_request`` is the async wrapper.

With ``LLMGATE_TRACE_PLUGINS=1`` every implementation call is logged (logger ``llmgate.requests``,
INFO, beside the request lines) with the hook, the plugin and the duration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

if TYPE_CHECKING:
    import argparse

    from sanic import HTTPResponse, Sanic

    from config.settings import Settings
    from proxy.audit import AccountEvent
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
    from proxy.failures import FailureVerdict
    from proxy.state import AppState
    from proxy.storage.database import PluginModels

hookspec = pluggy.HookspecMarker("llmgate")
hookimpl = pluggy.HookimplMarker("llmgate")

_Spec = TypeVar("_Spec", bound=Callable[..., Any])
# Attribute on a spec function naming how its results combine, beyond pluggy's firstresult.
COMBINE = "llmgate_combine"


def observer(spec: _Spec) -> _Spec:
    """Mark a spec whose implementations only observe: their exceptions are logged, not raised."""
    setattr(spec, COMBINE, ("observe", None))
    return spec


def chained(argument: str) -> Callable[[_Spec], _Spec]:
    """Mark a spec whose implementations each transform ``argument``, the next one getting the result."""

    def mark(spec: _Spec) -> _Spec:
        setattr(spec, COMBINE, ("chain", argument))
        return spec

    return mark


def around(spec: _Spec) -> _Spec:
    """Mark a middleware spec, composed around a handler by ``HookRunner.around_request``."""
    setattr(spec, COMBINE, ("around", None))
    return spec


# --- set-up -------------------------------------------------------------------------------


@hookspec
def register_modes() -> list[ModeSpec]:
    """Declare the modes this plugin serves.

    Runs once, when the plugins are registered, before any loop exists (must not be async).
    Results are collected and concatenated; mode names must be unique across plugins.
    """


@hookspec
def register_routes(app: Sanic, settings: Settings) -> None:
    """Add routes or blueprints to the app (the dashboard, pages outside ``/v1/``).

    ``/v1/`` routes of a mode belong on its ``ModeSpec.routes`` instead: the core registers them
    and runs them through the chain (authentication, admission, ``request_finished``).

    Runs once while the app is built (must not be async). Every implementation runs; results are
    ignored.
    """


@hookspec
def register_models() -> PluginModels | None:
    """Declare the plugin's own database tables: its Tortoise model modules and their migrations.

    Runs once, without a loop (must not be async), whenever the database is configured (the
    gateway, ``llmgate migrate``, every CLI command that opens the database). Results are
    collected. The plugin's models form a Tortoise app named after the plugin (so a foreign key to
    one of them is ``"<plugin>.<Model>"``; to the core's users it is ``"models.User"``), and
    ``llmgate migrate`` applies the plugin's migrations for the database's dialect after the
    core's. How to write them: ``docs/plugins.md``, "Tables and migrations".

    Example::

        @hookimpl
        def register_models():
            return PluginModels(modules=("my_plugin.models",), migrations=Path(__file__).parent / "migrations")
    """


@hookspec
def register_commands(subparsers: argparse._SubParsersAction, groups: dict[str, argparse._SubParsersAction]) -> None:
    """Add ``llmgate`` subcommands (argparse sub-parsers).

    ``subparsers`` takes new top-level commands; ``groups`` holds the core's command groups by name
    (``"user"``, ``"api-key"``), so a plugin can add an action to one (``llmgate user set-quota``).
    Take only the arguments you need.

    Runs once while the command line is parsed (must not be async), for enabled plugins only: a
    disabled plugin's commands are not offered. A command sets its handler with
    ``parser.set_defaults(func=handler)``; ``handler(args)`` is called with the parsed arguments
    and may raise ``proxy.api.CLIError`` to fail with one line on stderr. Every
    implementation runs; results are ignored.

    Example::

        @hookimpl
        def register_commands(subparsers):
            hello = subparsers.add_parser("hello", help="say hello")
            hello.add_argument("name")
            hello.set_defaults(func=lambda args: print(f"hello {args.name}"))
    """


@observer
@hookspec
def startup(state: AppState) -> None:
    """Called once per worker after the database and upstream client are ready.

    Every implementation runs, for every plugin (modes included). Observer: an exception is logged
    with the plugin's name and the worker starts anyway.
    """


@observer
@hookspec
def shutdown(state: AppState) -> None:
    """Called once per worker before it stops (flush buffers here).

    Every implementation runs. Observer: an exception is logged with the plugin's name and the
    other plugins still shut down.
    """


@observer
@hookspec
def account_event(event: AccountEvent) -> None:
    """An account changed or someone signed in: record it (the audit log). Every implementation runs.

    Called through ``proxy.audit.record`` by the dashboard, the command line and plugins: sign-ins
    (successful and failed), registrations, approvals, API keys and Ollama keys added or removed,
    admin and quota changes. The event never holds a secret. Observer: an exception is logged with
    the plugin's name and the action it records goes on. May be async; keep it to one short write.
    """


# --- around the request -------------------------------------------------------------------


@around
@hookspec
def wrap_request(ctx: RequestContext, call_next: Callable[[], Awaitable[HTTPResponse | None]]) -> Any:
    """Middleware around one whole API request: time it, decorate it, or answer it yourself.

    Runs for every request to a mode's endpoints, first thing, before authentication (so
    ``ctx.principal`` and ``ctx.mode`` are still None when it starts; they are set once
    ``call_next`` returns). ``call_next()`` runs the rest of the chain, the inner wrappers first,
    and returns the response: an ``HTTPResponse`` for a complete answer, None for a stream, which
    has been sent by the time it returns. Errors for the client are already rendered into that
    response; ``request_finished`` runs after the outermost wrapper has returned.

    Implementations must be ``async def``. Composition: the first implementation in call order is
    the outermost. The result is the response the next wrapper out receives: return what
    ``call_next`` returned, or a replacement ``HTTPResponse``; None means "unchanged". Headers set
    in ``ctx.response_headers`` before ``call_next`` reach the client in both cases; a wrapper that
    never calls ``call_next`` answers the request itself. Raising ``APIError`` answers with that
    error; any other exception is a 500.

    Example, a timing middleware::

        @hookimpl
        async def wrap_request(ctx, call_next):
            started = time.perf_counter()
            response = await call_next()
            record(ctx.endpoint.path, ctx.status, time.perf_counter() - started)
            return response
    """


# --- the request pipeline, in the order it runs ----------------------------------------------


@hookspec(firstresult=True)
def authenticate(ctx: RequestContext) -> Principal | None:
    """Return who is calling, or None to abstain.

    Runs first in the chain. First non-None result wins; none at all is a 401.
    """


@hookspec(firstresult=True)
def resolve_mode(ctx: RequestContext) -> str | None:
    """Return the name of the mode that handles this request (``ctx.principal`` is set).

    First non-None result wins; a name no plugin registered is a 403 ``mode_disabled``.
    """


@hookspec(firstresult=True)
def admit_request(ctx: RequestContext) -> APIError | None:
    """Admit or refuse the request: return None to admit, an ``APIError`` to refuse.

    Runs for every request to a mode's endpoints after authentication, mode resolution and the
    endpoint check, once the JSON body is parsed: ``ctx.request`` is the Sanic request,
    ``ctx.principal`` the authenticated user and key, ``ctx.mode`` the mode, ``ctx.body`` the
    parsed body. Nothing has been built or sent yet. This and ``transform_request`` are the last
    hooks that see the client's body: once the mode has built the upstream request, ``ctx.body``
    is None and ``ctx.request.body`` empty (``ctx.request_bytes`` keeps its size), so a long stream
    does not hold them. A plugin that needs part of the body later keeps that part itself here.
    First non-None result wins: the client gets that error's status, message and headers in the
    OpenAI error shape, and nothing is sent upstream. Raising the ``APIError`` works the same.
    Anything held for an admitted request (a concurrency slot) is released in ``request_finished``,
    which also runs for refused requests.
    """


@hookspec(firstresult=True)
def transform_request(ctx: RequestContext) -> UpstreamRequest | None:
    """Validate ``ctx.body`` and build what is sent upstream. First non-None result wins.

    The mode's hook. Raise ``proxy.api.InvalidRequest`` for bad input. Runs after
    ``admit_request``; none at all is a 500. The last hook to see ``ctx.body`` and
    ``ctx.request.body``: both are released once it returns (see ``admit_request``); keep what the
    rest of the request needs in ``ctx.meta``.
    """


@chained("request")
@hookspec
def prepare_upstream_request(ctx: RequestContext, request: UpstreamRequest) -> UpstreamRequest | None:
    """Shape the upstream request any mode built: add headers, change the body.

    Runs after ``transform_request`` and before ``select_upstream``, for every plugin (not only the
    mode's). Change ``request`` in place (``request.headers``, ``request.json``) and return None,
    or return a new ``UpstreamRequest``; each implementation receives the previous one's result.
    ``request.headers`` are merged over the gateway's default upstream headers for every candidate,
    so a header named here wins.
    """


@hookspec(firstresult=True)
def select_upstream(ctx: RequestContext) -> list[Upstream] | None:
    """Return the ordered candidates to try; failover walks the list. First non-None result wins.

    Runs once ``ctx.upstream_request`` is final. Return None to let a later plugin decide (the
    shared upstream is the last word).
    """


@hookspec(firstresult=True)
def upstream_attempt(ctx: RequestContext, upstream: Upstream) -> bool | None:
    """Called just before a candidate is tried; return False to skip it. First non-None wins.

    Lets a plugin skip a candidate that turned out unusable after ``select_upstream`` ran (a key
    another request just found exhausted). May await, e.g. the verdict of a probe in flight.
    """


@observer
@hookspec
def upstream_chosen(ctx: RequestContext, upstream: Upstream) -> None:
    """A candidate answered below 400 and serves this request. Every implementation runs.

    Runs before the client's status is committed unless the mode commits early (see
    ``ModeSpec.commit_after_seconds``), so ``ctx.response_headers`` set here usually reach the client.
    Observer: an exception is logged with the plugin's name and the request goes on.
    """


@hookspec(firstresult=True)
def classify_upstream_failure(ctx: RequestContext, failure: UpstreamFailure) -> FailureVerdict | bool | None:
    """Decide whether to try the next candidate (True) or give the error to the client (False).

    Runs for every failed attempt before the client got committed output: an error status, no
    connection, a stream that broke or ended without an answer, an error line the mode raised as
    ``UpstreamFailed``. First non-None result wins; with none, connection failures and 5xx try the
    next candidate once. A ``FailureVerdict(retry, code)`` says the same as the bool. What an error
    text means (its code) is the core's table, ``proxy.api.code_for_text``. Implementations
    also record what the failure means (an exhausted key, an invalid key).
    """


@hookspec(firstresult=True)
def no_upstream_left(ctx: RequestContext) -> APIError | None:
    """Every candidate failed or was skipped: return the error the client gets. First non-None wins.

    ``ctx.failures`` holds the attempts; with no result the last failure is returned.
    """


@hookspec(firstresult=True)
def transform_response(ctx: RequestContext, status: int, body: bytes) -> ClientResponse | None:
    """Turn a complete upstream answer (non-streaming) into the client's. First non-None result wins.

    With none, the upstream's body goes to the client unchanged.
    """


@chained("stream")
@hookspec
def stream_transform_response(ctx: RequestContext, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes] | None:
    """Wrap the stream of upstream bytes; each implementation's result feeds the next.

    Return None to leave the stream as it is. Called before the first byte is read, so the
    wrapper can emit events of its own before the upstream answers. Called again for every
    upstream attempt: until the client got committed output, a failed attempt (the body raises
    ``proxy.api.UpstreamFailed``, which a wrapper lets pass) makes the core build the chain
    anew on the next candidate. Bytes that must not end that chance (a keepalive, a heartbeat
    event) are yielded as ``proxy.api.Provisional``; a wrapper that passes chunks on unchanged
    keeps the mark. A mode raises ``UpstreamFailed`` itself when the upstream failed before any
    output (an error line, an empty answer); it never drives retries.
    """


@observer
@hookspec
def request_finished(ctx: RequestContext) -> None:
    """The response has been sent (or refused, or the client went away). Every implementation runs.

    Runs last, after every ``wrap_request`` has returned. Must not block: buffer what you record and
    write it later. Observer: an exception is logged with the plugin's name and the other
    implementations still run.
    """


@hookspec(firstresult=True)
def list_models(ctx: RequestContext) -> list[dict[str, Any]] | None:
    """Return the models for ``GET /v1/models`` as OpenAI model objects. First non-None wins."""
