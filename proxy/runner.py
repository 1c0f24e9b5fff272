"""The one place that calls hooks.

pluggy calls implementations synchronously and would count an ``async def`` implementation's
coroutine as a result, so a ``firstresult`` hook would stop at an async "None". The runner takes
pluggy's registry and ordering, calls each implementation itself and awaits what it returns
before deciding. It also scopes per-request hooks: a mode plugin's hooks run only when
``ctx.mode`` is that mode.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from proxy.context import ModeSpec, RequestContext


class HookRunner:
    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self.modes: dict[str, ModeSpec] = {}
        self._mode_of_plugin: dict[int, str] = {}
        self._cache: dict[tuple[str, str | None, bool], list[Any]] = {}

    # --- registry -----------------------------------------------------------------------

    def set_modes(self, modes: dict[str, ModeSpec]) -> None:
        self.modes = modes
        self._mode_of_plugin = {id(spec.plugin): name for name, spec in modes.items() if spec.plugin}
        self._cache.clear()

    def impls(self, name: str, mode: str | None = None, *, scoped: bool = True) -> list[Any]:
        """Implementations of ``name`` in call order; scoped: without other modes' plugins."""
        key = (name, mode, scoped)
        cached = self._cache.get(key)
        if cached is None:
            # pluggy keeps implementations in reverse call order.
            ordered = list(reversed(getattr(self.pm.hook, name).get_hookimpls()))
            if scoped:
                ordered = [i for i in ordered if self._mode_of_plugin.get(id(i.plugin), mode) == mode]
            cached = self._cache[key] = ordered
        return cached

    # --- calling --------------------------------------------------------------------------

    async def first(self, name: str, ctx: RequestContext | None = None, **kwargs: Any) -> Any:
        """First non-None result, awaiting each implementation's result before deciding."""
        if ctx is not None:
            kwargs["ctx"] = ctx
        for impl in self.impls(name, ctx.mode if ctx else None, scoped=ctx is not None):
            result = impl.function(*[kwargs[arg] for arg in impl.argnames])
            if inspect.isawaitable(result):
                result = await result
            if result is not None:
                return result
        return None

    async def each(self, name: str, ctx: RequestContext | None = None, **kwargs: Any) -> list[Any]:
        """Every implementation's non-None result, in call order."""
        if ctx is not None:
            kwargs["ctx"] = ctx
        results = []
        for impl in self.impls(name, ctx.mode if ctx else None, scoped=ctx is not None):
            result = impl.function(*[kwargs[arg] for arg in impl.argnames])
            if inspect.isawaitable(result):
                result = await result
            if result is not None:
                results.append(result)
        return results

    def each_sync(self, name: str, **kwargs: Any) -> list[tuple[Any, Any]]:
        """Set-up hooks that run before any loop exists: (plugin, result) pairs, all plugins."""
        results = []
        for impl in self.impls(name, scoped=False):
            result = impl.function(*[kwargs[arg] for arg in impl.argnames])
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()  # never awaited: close it so no warning outlives the error
                raise TypeError(f"{name} must not be async (plugin {self.pm.get_name(impl.plugin)})")
            results.append((impl.plugin, result))
        return results

    def chain_stream(self, ctx: RequestContext, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Pass the stream through every ``stream_transform_response`` implementation in turn."""
        for impl in self.impls("stream_transform_response", ctx.mode):
            wrapped = impl.function(*[{"ctx": ctx, "stream": stream}[arg] for arg in impl.argnames])
            if wrapped is not None:
                stream = wrapped
        return stream
