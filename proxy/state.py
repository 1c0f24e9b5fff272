"""Per-worker state shared by every request: settings, hooks, the upstream client, caches, tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx
from cachetools import TTLCache

from config.settings import Settings
from proxy.plugin_host import PluginInfo
from proxy.runner import HookRunner
from proxy.security import SecretBox
from proxy.upstream import ProxyClient

log = logging.getLogger("llmgate")


@dataclass
class AppState:
    settings: Settings
    runner: HookRunner
    plugins: list[PluginInfo]
    secret_box: SecretBox
    # Set when the worker starts; both use one connection pool (proxy/upstream.py).
    http: httpx.AsyncClient = None  # type: ignore[assignment]  # control plane: httpx's API
    proxy: ProxyClient = None  # type: ignore[assignment]  # the proxied requests
    ready: bool = False
    # API key hash -> Principal (or None for an unknown key). The TTL bounds how long a
    # revocation takes to reach every worker.
    auth_cache: TTLCache[str, Any] = None  # type: ignore[assignment]
    auth_generation: int = 0  # moved on by invalidate_auth
    # Plugin-owned caches and services, keyed by plugin name.
    services: dict[str, Any] = field(default_factory=dict)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _periodic: list[asyncio.Task[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.auth_cache is None:
            self.auth_cache = TTLCache(maxsize=100_000, ttl=self.settings.auth_cache_seconds)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, keeping a reference so it is not collected midway."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed: %r", task.exception())

    def every(self, seconds: float, job: Callable[[], Awaitable[Any]]) -> None:
        """Run ``job`` every ``seconds`` until the worker stops; a failing run is logged, not fatal."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await job()
                except Exception as exc:  # a database hiccup must not end the loop
                    log.error("periodic job %s failed: %r", getattr(job, "__qualname__", job), exc)

        self._periodic.append(asyncio.ensure_future(loop()))

    async def stop_background(self) -> None:
        for task in self._periodic:
            task.cancel()
        self._periodic.clear()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)

    def invalidate_auth(self) -> None:
        """Forget cached API keys in this worker (after a revocation or a settings change here).

        Also moves ``auth_generation`` on: a key lookup that began before (its answer may be the
        revoked key) must not put that answer in the cache, nor serve requests that come after.
        """
        self.auth_generation += 1
        self.auth_cache.clear()
