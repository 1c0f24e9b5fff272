"""``GET /metrics`` in Prometheus text format, and one log line per request.

Per request the hot path costs a few dict updates and, when the ``llmgate.requests`` logger is
enabled for INFO, one preformatted line handed to the loop with ``call_soon``, so it is written
after the response rather than before it. Everything else (rendering the exposition) happens
when Prometheus scrapes. Counters live in the worker process: with several workers each scrape
sees the worker that answered it (see docs/deploy.md).

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
import hmac
import ipaddress
import logging
import os
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from cachetools import TTLCache
from sanic import Request, Sanic
from sanic.response import HTTPResponse

from config.settings import Settings
from proxy.api import AppState, RequestContext, Upstream, hookimpl, log_value

NAME = "metrics"
request_log = logging.getLogger("llmgate.requests")

# Seconds. Non-streaming answers of a local model take from milliseconds to minutes; streams
# last as long as the generation.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_OPEN = "metrics.open_stream"
# The series of every user's Ollama key when user_labels is off.


class CountingCache(TTLCache):  # type: ignore[type-arg]
    """The auth cache, counting hits and misses (one extra frame per lookup)."""

    def __init__(self, maxsize: int, ttl: float) -> None:
        super().__init__(maxsize=maxsize, ttl=ttl)
        self.hits = 0
        self.misses = 0

    def __getitem__(self, key: Any) -> Any:
        try:
            value = super().__getitem__(key)
        except KeyError:
            self.misses += 1
            raise
        self.hits += 1
        return value


class Metrics:
    def __init__(self, user_labels: bool = False) -> None:
        self.user_labels = user_labels
        self.started = time.time()
        self.requests: defaultdict[tuple[str, int, str], int] = defaultdict(int)
        # mode -> [bucket counts..., +Inf count, sum]
        self.durations: dict[str, list[float]] = {}
        self.attempts: defaultdict[tuple[str, str], int] = defaultdict(int)  # (upstream, outcome)
        self.failovers: defaultdict[str, int] = defaultdict(int)  # mode
        self.tokens: defaultdict[tuple[str, str], int] = defaultdict(int)  # (mode, direction)
        self.open_streams = 0
        self.auth_cache: CountingCache | None = None
        # Families other plugins render themselves (rate_limits: Redis health), by plugin name.
        self.sections: dict[str, Callable[[], list[str]]] = {}

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
        self.requests[(mode, ctx.status, upstream)] += 1
        row = self.durations.get(mode)
        if row is None:
            row = self.durations[mode] = [0.0] * (len(BUCKETS) + 2)
        row[bisect_left(BUCKETS, seconds)] += 1
        row[-1] += seconds
        failures = ctx.failures
        if failures:
            for failure in failures:
                self.attempts[(self.label(failure.upstream), "failed")] += 1
            # Each failure that was followed by another attempt is a failover.
            self.failovers[mode] += len(failures) if ctx.upstream else len(failures) - 1
        if ctx.upstream is not None:
            self.attempts[(upstream, "ok")] += 1
        usage = ctx.usage
        if usage.input_tokens or usage.output_tokens:
            self.tokens[(mode, "input")] += usage.input_tokens
            self.tokens[(mode, "output")] += usage.output_tokens

    def render(self) -> bytes:
        out: list[str] = []

        def family(name: str, kind: str, text: str) -> None:
            out.append(f"# HELP {name} {text}")
            out.append(f"# TYPE {name} {kind}")

        family("llmgate_requests_total", "counter", "API requests by mode, status and serving upstream.")
        for (mode, status, upstream), count in sorted(self.requests.items()):
            out.append(f'llmgate_requests_total{{mode="{mode}",status="{status}",upstream="{_esc(upstream)}"}} {count}')
        family("llmgate_request_duration_seconds", "histogram", "Time from request to the end of the answer, by mode.")
        for mode, row in sorted(self.durations.items()):
            cumulative = 0.0
            for bound, count in zip(BUCKETS, row, strict=False):
                cumulative += count
                out.append(f'llmgate_request_duration_seconds_bucket{{mode="{mode}",le="{bound}"}} {cumulative:.0f}')
            cumulative += row[len(BUCKETS)]
            out.append(f'llmgate_request_duration_seconds_bucket{{mode="{mode}",le="+Inf"}} {cumulative:.0f}')
            out.append(f'llmgate_request_duration_seconds_sum{{mode="{mode}"}} {row[-1]:.6f}')
            out.append(f'llmgate_request_duration_seconds_count{{mode="{mode}"}} {cumulative:.0f}')
        family("llmgate_upstream_attempts_total", "counter", "Requests sent upstream, by upstream and outcome.")
        for (upstream, outcome), count in sorted(self.attempts.items()):
            out.append(f'llmgate_upstream_attempts_total{{upstream="{_esc(upstream)}",outcome="{outcome}"}} {count}')
        family("llmgate_upstream_failovers_total", "counter", "Times a request moved on to its next upstream candidate.")
        for mode, count in sorted(self.failovers.items()):
            out.append(f'llmgate_upstream_failovers_total{{mode="{mode}"}} {count}')
        family("llmgate_tokens_total", "counter", "Tokens the upstream reported, by mode and direction.")
        for (mode, direction), count in sorted(self.tokens.items()):
            out.append(f'llmgate_tokens_total{{mode="{mode}",direction="{direction}"}} {count}')
        family("llmgate_open_streams", "gauge", "Streaming answers in progress in this worker.")
        out.append(f"llmgate_open_streams {self.open_streams}")
        if self.auth_cache is not None:
            family("llmgate_auth_cache_lookups_total", "counter", "API key lookups in the auth cache, by result.")
            out.append(f'llmgate_auth_cache_lookups_total{{result="hit"}} {self.auth_cache.hits}')
            out.append(f'llmgate_auth_cache_lookups_total{{result="miss"}} {self.auth_cache.misses}')
            family("llmgate_auth_cache_entries", "gauge", "API keys (known and unknown) held in the auth cache.")
            out.append(f"llmgate_auth_cache_entries {len(self.auth_cache)}")
        for lines in self.sections.values():
            out.extend(lines())
        family("llmgate_worker_info", "gauge", "The worker process that answered this scrape.")
        out.append(f'llmgate_worker_info{{pid="{os.getpid()}"}} 1')
        family("llmgate_process_start_time_seconds", "gauge", "When this worker started (Unix time).")
        out.append(f"llmgate_process_start_time_seconds {self.started:.3f}")
        return ("\n".join(out) + "\n").encode()


def _esc(value: str) -> str:
    """A Prometheus label value: backslash, quote and newline escaped; a carriage return would end
    the sample line for some parsers, so it becomes a space."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", " ")


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
    metrics.auth_cache = state.auth_cache = CountingCache(maxsize=old.maxsize, ttl=old.ttl)


@hookimpl
def upstream_chosen(ctx: RequestContext, upstream: Upstream) -> None:
    if ctx.stream and _OPEN not in ctx.meta:
        ctx.meta[_OPEN] = True
        _metrics(ctx.state).open_streams += 1


@hookimpl
def request_finished(ctx: RequestContext) -> None:
    seconds = time.perf_counter() - ctx.started
    metrics = _metrics(ctx.state)
    if ctx.meta.pop(_OPEN, False):
        metrics.open_streams -= 1
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
