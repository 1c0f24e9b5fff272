"""``GET /metrics`` in Prometheus text for the whole instance, and one log line per request.

Values are kept by ``prometheus_client``. With one process they live in memory; with
``--workers N`` the main process gives every worker one private directory (``PROMETHEUS_MULTIPROC_DIR``,
see ``proxy/metrics_dir.py``) and each worker writes its values to its own memory-mapped files there,
so whichever worker answers a scrape adds up every worker's files: the figures are the instance's,
and counters of a worker that exits stay in the sum, so they never go down between scrapes.

Per request the hot path costs a handful of counter increments on label children cached here (each
a float add under a lock; with several workers also a write into a memory-mapped page, no file
I/O; about 14 µs per request in all, measured in docs/benchmarks.md), and, when the ``llmgate.requests`` logger is enabled for INFO, one preformatted line handed to the
loop with ``call_soon``, so it is written after the response rather than before it. Rendering the
exposition happens when Prometheus scrapes.

Who may scrape: with ``token`` set (``LLMGATE_METRICS_TOKEN``), whoever sends ``Authorization: Bearer
<token>`` (compared in constant time); without it, only clients on loopback (``request.client_ip``, so
the forwarding settings apply; behind a proxy that does not forward the client's address every client
looks like the proxy, which is why operators behind one set the token).

Labels are the gateway's own words (mode, status, outcome) unless ``user_labels`` is on: an Ollama
key's label is chosen by its owner, so by default a plugin's candidates show as the plugin's name
(``upstream="ollama_keys"``).
No series carries a model name or a username: clients choose those, without bound.

Settings, ``[plugins.metrics]``: ``token``, ``user_labels`` (default false) and ``log_requests``
(default true).
"""

from __future__ import annotations

import asyncio
import glob
import hmac
import ipaddress
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import prometheus_client
from cachetools import TTLCache
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from sanic import Request, Sanic
from sanic.response import HTTPResponse

from config.settings import Settings
from proxy.api import MULTIPROC_ENV, AppState, RequestContext, Upstream, hookimpl, log_value

NAME = "metrics"
request_log = logging.getLogger("llmgate.requests")

# Seconds. Non-streaming answers of a local model take from milliseconds to minutes; streams
# last as long as the generation.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_OPEN = "metrics.open_stream"
_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w*?_(\d+)\.db$")

# A counter's *_created series doubles the output and means little here: an instance's counters
# start together.
prometheus_client.disable_created_metrics()


def shared_dir() -> str | None:
    """The directory the workers of this instance share, when values are kept in files there.

    prometheus_client picks memory or files when it is first imported; both must agree.
    """
    path = os.environ.get(MULTIPROC_ENV)
    return path if path and values.ValueClass is not values.MutexValue else None


class CountingCache(TTLCache):  # type: ignore[type-arg]
    """The auth cache, counting hits and misses and its size (one extra frame per lookup)."""

    def __init__(self, maxsize: int, ttl: float, metrics: Metrics) -> None:
        super().__init__(maxsize=maxsize, ttl=ttl)
        self._hit = metrics.auth_lookups.labels("hit")
        self._miss = metrics.auth_lookups.labels("miss")
        self._entries = metrics.auth_entries

    def __getitem__(self, key: Any) -> Any:
        try:
            value = super().__getitem__(key)
        except KeyError:
            self._miss.inc()
            raise
        self._hit.inc()
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)  # expires old entries first, so the size is current
        self._entries.set(len(self))


class Metrics:
    """One worker's metric objects; ``render`` reports the instance."""

    def __init__(self, user_labels: bool = False) -> None:
        self.user_labels = user_labels
        self.shared_dir = shared_dir()
        # Per app, not prometheus_client's global registry: tests run many apps in one process.
        self.registry = registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter("llmgate_requests_total", "API requests by mode, status and serving upstream.",
                                ["mode", "status", "upstream"], registry=registry)
        self.durations = Histogram("llmgate_request_duration_seconds",
                                   "Time from request to the end of the answer, by mode.",
                                   ["mode"], buckets=BUCKETS, registry=registry)
        self.attempts = Counter("llmgate_upstream_attempts_total", "Requests sent upstream, by upstream and outcome.",
                                ["upstream", "outcome"], registry=registry)
        self.failovers = Counter("llmgate_upstream_failovers_total",
                                 "Times a request moved on to its next upstream candidate.", ["mode"], registry=registry)
        self.tokens = Counter("llmgate_tokens_total", "Tokens the upstream reported, by mode and direction.",
                              ["mode", "direction"], registry=registry)
        self.open_streams = Gauge("llmgate_open_streams", "Streaming answers in progress in this instance.",
                                  registry=registry, multiprocess_mode="livesum")
        self.auth_lookups = Counter("llmgate_auth_cache_lookups_total", "API key lookups in the auth cache, by result.",
                                    ["result"], registry=registry)
        self.auth_entries = Gauge("llmgate_auth_cache_entries",
                                  "API keys (known and unknown) held in the auth caches of the running workers.",
                                  registry=registry, multiprocess_mode="livesum")
        self.workers = Gauge("llmgate_workers", "Worker processes serving in this instance.",
                             registry=registry, multiprocess_mode="livesum")
        self.start_time = Gauge("llmgate_process_start_time_seconds",
                                "When this instance started (Unix time; its first worker's start).",
                                registry=registry, multiprocess_mode="min")
        self.auth_lookups.labels("hit")
        self.auth_lookups.labels("miss")
        self.workers.set(1)
        self.start_time.set(time.time())
        # Families other plugins render themselves (rate_limits: Redis health), by plugin name; the
        # answering worker's view, like llmgate_worker_info.
        self.sections: dict[str, Callable[[], list[str]]] = {}
        # Label children by their label values: .labels() takes a lock and builds a tuple each call.
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: Any) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*(_label(str(value)) for value in labels))
        return child

    def label(self, upstream: Upstream | None) -> str:
        if upstream is None:
            return "none"
        if upstream.owner is not None and not self.user_labels:
            # A plugin's candidate (a user's own key) carries a label its user chose.
            return upstream.owner
        return upstream.label

    def observe(self, ctx: RequestContext, seconds: float) -> None:
        mode = ctx.mode or "none"
        upstream = self.label(ctx.upstream)
        self._child(self.requests, mode, ctx.status, upstream).inc()
        self._child(self.durations, mode).observe(seconds)
        failures = ctx.failures
        if failures:
            for failure in failures:
                self._child(self.attempts, self.label(failure.upstream), "failed").inc()
            # Each failure that was followed by another attempt is a failover.
            self._child(self.failovers, mode).inc(len(failures) if ctx.upstream else len(failures) - 1)
        if ctx.upstream is not None:
            self._child(self.attempts, upstream, "ok").inc()
        usage = ctx.usage
        if usage.input_tokens or usage.output_tokens:
            self._child(self.tokens, mode, "input").inc(usage.input_tokens)
            self._child(self.tokens, mode, "output").inc(usage.output_tokens)

    def render(self) -> bytes:
        if self.shared_dir is None:
            body = generate_latest(self.registry)
        else:
            _forget_dead_workers(self.shared_dir)
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_InstanceCollector(self.shared_dir))
            body = generate_latest(registry)
        for section in self.sections.values():
            lines = section()
            if lines:
                body += ("\n".join(lines) + "\n").encode()
        # Which worker answered: the one series that is this process's own.
        return body + (
            "# HELP llmgate_worker_info The worker process that answered this scrape.\n"
            "# TYPE llmgate_worker_info gauge\n"
            f'llmgate_worker_info{{pid="{os.getpid()}"}} 1.0\n'
        ).encode()

    def worker_stopped(self) -> None:
        """This worker's gauges leave the sums (its counters stay: they were counted)."""
        if self.shared_dir is not None:
            multiprocess.mark_process_dead(os.getpid(), self.shared_dir)


class _InstanceCollector:
    """Every worker's files added up, as prometheus_client's MultiProcessCollector does, leaving out
    a file a starting worker has created but not yet sized (reading it would fail the scrape)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def collect(self) -> Any:
        files = [name for name in glob.glob(os.path.join(self.path, "*.db")) if os.path.getsize(name) > 0]
        return multiprocess.MultiProcessCollector.merge(files, accumulate=True)


def _forget_dead_workers(path: str) -> None:
    """A worker that crashed never marked itself dead: drop its live gauges (open streams)."""
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        match = _LIVE_GAUGE_FILE.search(name)
        if match is None:
            continue
        pid = int(match.group(1))
        if not _running(pid):
            multiprocess.mark_process_dead(pid, path)


def _running(pid: int) -> bool:
    """False for a process that is gone, also one that died and awaits its parent (a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc here: ask the kernel, which counts a zombie as alive
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True
    return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] != b"Z"


def _label(value: str) -> str:
    """prometheus_client escapes backslash, quote and newline; a carriage return would end the
    sample line for some parsers, so it becomes a space."""
    return value.replace("\r", " ")


def log_line(ctx: RequestContext, seconds: float) -> str:
    """One request's line; every value a client or user chose goes through ``log_value``."""
    principal = ctx.principal
    user = log_value(principal.username) if principal else "-"
    upstream = log_value(ctx.upstream.label) if ctx.upstream else "-"
    model = log_value(ctx.upstream_model) if ctx.upstream_model else "-"
    return (
        f"request_id={ctx.request_id} method={ctx.endpoint.method} path={ctx.endpoint.path} "
        f"mode={ctx.mode or '-'} status={ctx.status} stream={'true' if ctx.stream else 'false'} "
        f"user={user} key={principal.api_key_prefix if principal else '-'} "
        f"upstream={upstream} model={model} "
        f"attempts={len(ctx.failures) + (1 if ctx.upstream else 0)} "
        f"input_tokens={ctx.usage.input_tokens} output_tokens={ctx.usage.output_tokens} "
        f"duration_ms={seconds * 1000:.1f}"
    )


def _metrics(state: AppState) -> Metrics:
    metrics = state.services.get(NAME)
    if metrics is None:
        user_labels = bool(state.settings.plugin(NAME).get("user_labels", False))
        metrics = state.services[NAME] = Metrics(user_labels)
    return metrics


def _on_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False  # a unix socket or an unparsable forwarded value: not provably local


@hookimpl
def startup(state: AppState) -> None:
    metrics = _metrics(state)
    old = state.auth_cache
    # No request has been served yet, so nothing cached is lost by the swap.
    state.auth_cache = CountingCache(maxsize=old.maxsize, ttl=old.ttl, metrics=metrics)


@hookimpl
def shutdown(state: AppState) -> None:
    _metrics(state).worker_stopped()


@hookimpl
def upstream_chosen(ctx: RequestContext, upstream: Upstream) -> None:
    if ctx.stream and _OPEN not in ctx.meta:
        ctx.meta[_OPEN] = True
        _metrics(ctx.state).open_streams.inc()


@hookimpl
def request_finished(ctx: RequestContext) -> None:
    seconds = time.perf_counter() - ctx.started
    metrics = _metrics(ctx.state)
    if ctx.meta.pop(_OPEN, False):
        metrics.open_streams.dec()
    metrics.observe(ctx, seconds)
    if request_log.isEnabledFor(logging.INFO) and ctx.settings.plugin(NAME).get("log_requests", True):
        # The answer of a non-streaming request is written after this hook returns; the line
        # waits for the next turn of the loop so the client does not wait for the log.
        asyncio.get_running_loop().call_soon(request_log.info, log_line(ctx, seconds))


@hookimpl
def register_routes(app: Sanic, settings: Settings) -> None:
    token = str(settings.plugin(NAME).get("token", "") or "")

    expected = f"Bearer {token}".encode()

    async def metrics_endpoint(request: Request) -> HTTPResponse:
        if token:
            given = request.headers.get("authorization", "").encode(errors="surrogateescape")
            if not hmac.compare_digest(given, expected):
                return HTTPResponse(
                    b"unauthorized: send Authorization: Bearer <metrics token>\n",
                    status=401, content_type="text/plain", headers={"www-authenticate": "Bearer"},
                )  # fmt: skip
        elif not _on_loopback(request.client_ip):
            return HTTPResponse(
                b"forbidden: /metrics answers loopback clients only unless a metrics token is set\n",
                status=403, content_type="text/plain",
            )  # fmt: skip
        body = _metrics(request.app.ctx.state).render()
        return HTTPResponse(body, content_type="text/plain; version=0.0.4; charset=utf-8")

    app.add_route(metrics_endpoint, "/metrics", methods=["GET"], name="metrics")
