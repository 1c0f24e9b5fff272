"""The one place that calls hooks.

pluggy calls implementations synchronously and would count an ``async def`` implementation's
coroutine as a result, so a ``firstresult`` hook would stop at an async "None". The runner takes
pluggy's registry, ordering and spec options, calls each implementation itself and awaits what it
returns before deciding. How results combine is read from the spec (``firstresult``, or the
``observer``/``chained``/``around`` marks in ``proxy.hookspecs``), never chosen by the caller.
It also scopes per-request hooks: a mode plugin's hooks run only when ``ctx.mode`` is that mode.

An observer's exception is logged with the plugin's name and the chain goes on (mitmproxy's
``safecall``). Tracing (``LLMGATE_TRACE_PLUGINS``) is decided once, when the runner is built: with
it on, the plans hold timing wrappers instead of the implementations, so with it off the hot path
runs exactly the code it would without tracing.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from types import CoroutineType
from typing import TYPE_CHECKING, Any

import pluggy

from proxy.hookspecs import COMBINE

if TYPE_CHECKING:
    from proxy.context import ModeSpec, RequestContext

log = logging.getLogger("llmgate")
# The per-request lines' logger (plugins/metrics.py): a trace sits among the lines it explains.
trace_log = logging.getLogger("llmgate.requests")

FIRST, COLLECT, OBSERVE, CHAIN, AROUND = "first", "collect", "observe", "chain", "around"


@dataclass(frozen=True, slots=True)
class Impl:
    """One implementation, ready to call: its function, the argument names it takes, its plugin."""

    function: Callable[..., Any]
    argnames: tuple[str, ...]
    plugin: str  # its registered name
    owner: object  # the plugin object


@dataclass(frozen=True, slots=True)
class Plan:
    """How to call one hook for one mode: the combination rule and the implementations in order."""

    name: str
    kind: str
    argument: str | None  # the value a chained hook passes along
    impls: tuple[Impl, ...]


class HookRunner:
    def __init__(self, pm: pluggy.PluginManager, *, trace: bool = False) -> None:
        self.pm = pm
        self.trace = trace
        self.modes: dict[str, ModeSpec] = {}
        self._mode_of_plugin: dict[int, str] = {}
        self._plans: dict[tuple[str, str | None, bool], Plan] = {}
        _refuse_pluggy_wrappers(pm)

    # --- registry -----------------------------------------------------------------------

    def set_modes(self, modes: dict[str, ModeSpec]) -> None:
        self.modes = modes
        self._mode_of_plugin = {id(spec.plugin): name for name, spec in modes.items() if spec.plugin}
        self._plans.clear()

    def kind(self, name: str) -> tuple[str, str | None]:
        """How the results of hook ``name`` combine, read from its spec."""
        spec = getattr(self.pm.hook, name).spec
        if spec is None:
            return COLLECT, None
        marked = getattr(spec.function, COMBINE, None)
        if marked is not None:
            return marked  # type: ignore[no-any-return]
        return (FIRST, None) if spec.opts.get("firstresult") else (COLLECT, None)

    def impls(self, name: str, mode: str | None = None, *, scoped: bool = True) -> list[Any]:
        """pluggy's implementations of ``name`` in call order; scoped: without other modes' plugins."""
        # pluggy keeps implementations in reverse call order.
        ordered = list(reversed(getattr(self.pm.hook, name).get_hookimpls()))
        if scoped:
            ordered = [i for i in ordered if self._mode_of_plugin.get(id(i.plugin), mode) == mode]
        return ordered

    def plan(self, name: str, mode: str | None = None, *, scoped: bool = True) -> Plan:
        key = (name, mode, scoped)
        found = self._plans.get(key)
        if found is None:
            kind, argument = self.kind(name)
            impls = tuple(
                Impl(self._traced(name, kind, i) if self.trace else i.function, tuple(i.argnames), i.plugin_name, i.plugin)
                for i in self.impls(name, mode, scoped=scoped)
            )
            found = self._plans[key] = Plan(name, kind, argument, impls)
        return found

    # --- calling --------------------------------------------------------------------------

    async def call(self, name: str, ctx: RequestContext | None = None, **kwargs: Any) -> Any:
        """Call hook ``name`` and combine the results as its spec says.

        firstresult: the first non-None result (or None); collect: the list of non-None results;
        observer: the same list, with failing implementations logged and left out; chained: the
        final value of the argument the spec names. Without ``ctx`` (set-up and worker hooks)
        every plugin's implementation runs, modes included.
        """
        if ctx is not None:
            kwargs["ctx"] = ctx
            plan = self._plans.get((name, ctx.mode, True)) or self.plan(name, ctx.mode)
        else:
            plan = self._plans.get((name, None, False)) or self.plan(name, scoped=False)
        kind = plan.kind
        if kind == FIRST:
            for impl in plan.impls:
                result = impl.function(*map(kwargs.__getitem__, impl.argnames))
                if _awaitable(result):
                    result = await result
                if result is not None:
                    return result
            return None
        if kind == CHAIN:
            argument = plan.argument
            for impl in plan.impls:
                result = impl.function(*map(kwargs.__getitem__, impl.argnames))
                if _awaitable(result):
                    result = await result
                if result is not None:
                    kwargs[argument] = result  # type: ignore[index]
            return kwargs[argument]  # type: ignore[index]
        if kind == AROUND:
            raise TypeError(f"{name} wraps the request: run it with around_request, not call")
        results = []
        if kind == OBSERVE:
            for impl in plan.impls:
                try:
                    result = impl.function(*map(kwargs.__getitem__, impl.argnames))
                    if _awaitable(result):
                        result = await result
                except Exception as exc:  # noqa: BLE001 -- safecall: log it, and the chain goes on
                    _observer_failed(name, impl.plugin, exc)
                    continue
                if result is not None:
                    results.append(result)
            return results
        for impl in plan.impls:
            result = impl.function(*map(kwargs.__getitem__, impl.argnames))
            if _awaitable(result):
                result = await result
            if result is not None:
                results.append(result)
        return results

    def call_sync(self, name: str, **kwargs: Any) -> list[tuple[Any, Any]]:
        """Set-up hooks that run before any loop exists: (plugin, result) pairs, all plugins."""
        results = []
        for impl in self.plan(name, scoped=False).impls:
            result = impl.function(*[kwargs[arg] for arg in impl.argnames])
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()  # never awaited: close it so no warning outlives the error
                raise TypeError(f"{name} must not be async (plugin {impl.plugin})")
            results.append((impl.owner, result))
        return results

    def around_request(
        self, ctx: RequestContext, handler: Callable[[], Awaitable[Any]]
    ) -> Awaitable[Any]:
        """``handler()`` inside every ``wrap_request`` implementation, the first one outermost.

        Without implementations this is ``handler()`` itself: no frame is added to the request.
        """
        plan = self._plans.get(("wrap_request", ctx.mode, True)) or self.plan("wrap_request", ctx.mode)
        call_next = handler
        for impl in reversed(plan.impls):
            call_next = partial(_wrap, impl, ctx, call_next)
        return call_next()

    def chain_stream(self, ctx: RequestContext, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Pass the stream through every ``stream_transform_response`` implementation in turn.

        Synchronous: a stream wrapper returns its iterator at once (an async generator), it does
        not await anything before the first byte is asked for.
        """
        for impl in self.plan("stream_transform_response", ctx.mode).impls:
            wrapped = impl.function(*[{"ctx": ctx, "stream": stream}[arg] for arg in impl.argnames])
            if wrapped is not None:
                stream = wrapped
        return stream

    # --- tracing ----------------------------------------------------------------------------

    def _traced(self, hook: str, kind: str, hookimpl: Any) -> Callable[..., Any]:
        """``hookimpl``'s function, logging one line per call with hook, plugin and duration.

        An observer's exception is logged here with its duration, in the same record as the
        traceback, and swallowed (the runner's own ``safecall`` would log it without timing).
        """
        function, plugin = hookimpl.function, hookimpl.plugin_name
        ctx_index = hookimpl.argnames.index("ctx") if "ctx" in hookimpl.argnames else None

        def report(args: tuple[Any, ...], started: float, exc: BaseException | None) -> None:
            ms = (time.perf_counter() - started) * 1000
            request_id = getattr(args[ctx_index], "request_id", "-") if ctx_index is not None else "-"
            if exc is not None and kind == OBSERVE and isinstance(exc, Exception):
                _observer_failed(hook, plugin, exc, f" duration_ms={ms:.3f} request_id={request_id}")
                return
            outcome = f" raised={type(exc).__name__}" if exc is not None else ""
            trace_log.info("hook=%s plugin=%s duration_ms=%.3f request_id=%s%s", hook, plugin, ms, request_id, outcome)

        async def finish(awaitable: Awaitable[Any], args: tuple[Any, ...], started: float) -> Any:
            try:
                result = await awaitable
            except BaseException as exc:
                report(args, started, exc)
                if kind == OBSERVE and isinstance(exc, Exception):
                    return None
                raise
            report(args, started, None)
            return result

        def traced(*args: Any) -> Any:
            started = time.perf_counter()
            try:
                result = function(*args)
            except BaseException as exc:
                report(args, started, exc)
                if kind == OBSERVE and isinstance(exc, Exception):
                    return None
                raise
            if inspect.isawaitable(result):
                return finish(result, args, started)
            report(args, started, None)
            return result

        return traced


def _awaitable(result: Any) -> bool:
    """Whether an implementation returned something to await. A coroutine is recognised by its
    type and None at once: ``inspect.isawaitable`` alone goes through an ABC check every time."""
    return type(result) is CoroutineType or (result is not None and inspect.isawaitable(result))


def _refuse_pluggy_wrappers(pm: pluggy.PluginManager) -> None:
    """pluggy's generator wrappers cannot wrap async implementations: say so at start-up."""
    for name, caller in vars(pm.hook).items():
        for impl in caller.get_hookimpls():
            if impl.hookwrapper or impl.wrapper:
                raise TypeError(
                    f"plugin {impl.plugin_name} declares {name} as a pluggy wrapper; llmgate calls "
                    "implementations itself: wrap the whole request with wrap_request instead"
                )


async def _wrap(impl: Impl, ctx: RequestContext, call_next: Callable[[], Awaitable[Any]]) -> Any:
    """One ``wrap_request`` layer: its result, or the inner response when it returns None."""
    inner: list[Any] = []

    async def next_layer() -> Any:
        response = await call_next()
        inner.append(response)
        return response

    result = impl.function(*[{"ctx": ctx, "call_next": next_layer}[arg] for arg in impl.argnames])
    if _awaitable(result):
        result = await result
    if result is None and inner:
        return inner[0]
    return result


def _observer_failed(hook: str, plugin: str, exc: Exception, detail: str = "") -> None:
    """One record: which plugin failed in which observer hook, and the traceback."""
    log.error(
        "hook=%s plugin=%s raised %s, logged and skipped: %s%s",
        hook, plugin, type(exc).__name__, exc, detail,
        exc_info=(type(exc), exc, exc.__traceback__),
    )  # fmt: skip
