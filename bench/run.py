"""The benchmark: the gateway against the fake upstream called directly, in the same run.

Beside the gateway runs the reference row, a bare Sanic + aiohttp passthrough (bench/bare_proxy.py)
on the same fake: the floor this stack reaches without any of the gateway's work. Each measurement
is taken in rounds; within a round every route (the fake directly, the reference, each mode through
each gateway) takes its turn, so drifting machine load hits all of them alike. The result is one
table (bench/report.py) with every figure beside the target it is held to.

    python -m bench            # full run (several minutes)
    python -m bench --quick    # a smoke run, well under a minute
    python -m bench --engines aiohttp,httpx   # compare the upstream client engines
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import bodies, client, wrk
from bench.processes import (
    Process,
    cpu_seconds,
    fake_stats,
    find_litellm,
    listen_backlog,
    listen_counters,
    rss_bytes,
    start_bare_proxy,
    start_fake,
    start_gateway,
    start_litellm,
)
from bench.report import report

STREAM_TOKENS = 500
# (c) paces its tokens like a fast model (200 tokens/s per stream): with every token written at
# once, "direct" measured only how fast a client can read one socket, a ceiling no relay (not even
# the bare reference) comes near, so the ratio said nothing about keeping up with a model.
STREAM_PACE = 0.005
LAST_TOKEN = b"tok%d" % (STREAM_TOKENS - 1)
CONCURRENCY = 32
LATENCY, RPS, STREAMS, MEMORY = "latency", "rps", "streams", "memory"
ALL_PHASES = frozenset({LATENCY, RPS, STREAMS, MEMORY})


@dataclass(frozen=True)
class Profile:
    latency_rounds: int
    latency_per_round: int
    latency_warmup: int
    rps_rounds: int
    rps_seconds: float
    stream_rounds: int
    streams: int
    open_streams: int
    settle_seconds: float  # pause before reading memory, so the process has caught up
    fresh_for_memory: bool  # restart the process before each memory row


FULL = Profile(
    latency_rounds=20, latency_per_round=200, latency_warmup=200, rps_rounds=4, rps_seconds=4, stream_rounds=5,
    streams=64, open_streams=1000, settle_seconds=2, fresh_for_memory=True,
)
QUICK = Profile(
    latency_rounds=2, latency_per_round=50, latency_warmup=50, rps_rounds=1, rps_seconds=1, stream_rounds=1,
    streams=16, open_streams=100, settle_seconds=0.3, fresh_for_memory=False,
)


@dataclass(frozen=True)
class Route:
    """One way through: what is measured, and what it is compared with."""

    label: str
    kind: str  # "direct", "reference", "bypass", "emulator" or "litellm": picks the targets it is held to
    direct: str  # label of the direct route it is compared with ("" for direct routes)
    url: str
    key: str | None
    body: Callable[[str, bool], bytes]
    process: Process | None = None
    phases: frozenset[str] = ALL_PHASES
    one_worker: str = ""  # for a several-worker gateway: the one-worker route its rate is compared with

    def target(self, text: str, stream: bool) -> client.Target:
        return client.Target(self.label, self.url, self.body(text, stream), self.key)


def routes_for(
    fake: Process, reference: Process, gateways: dict[str, Process], modes: list[str], workers: dict[str, Process]
) -> list[Route]:
    direct_chat, direct_api = "direct /v1/chat/completions", "direct /api/chat"
    routes = [
        Route(direct_chat, "direct", "", fake.url + "/v1/chat/completions", None, bodies.chat,
              phases=frozenset({LATENCY, RPS, STREAMS})),
        Route(direct_api, "direct", "", fake.url + "/api/chat", None, bodies.chat,
              phases=frozenset({LATENCY, RPS, STREAMS})),
        Route("reference /v1/chat/completions", "reference", direct_chat, reference.url + "/v1/chat/completions",
              None, bodies.chat, reference, phases=frozenset({LATENCY, RPS, STREAMS})),
        Route("reference /api/chat", "reference", direct_api, reference.url + "/api/chat", None, bodies.chat, reference),
    ]
    for index, (name, gateway) in enumerate(gateways.items()):
        if "bypass" in gateway.keys:
            kind = "litellm" if name == "litellm" else "bypass"
            routes.append(Route(f"bypass ({name})", kind, direct_chat, gateway.url + "/v1/chat/completions",
                                gateway.keys["bypass"], bodies.chat, gateway))
        if "emulator" in gateway.keys and "emulator" in modes:
            url, key = gateway.url + "/v1/responses", gateway.keys["emulator"]
            routes.append(Route(f"emulator ({name})", "emulator", direct_api, url, key, bodies.responses, gateway))
            if index == 0:  # the request shapes Codex sends, on the first gateway only (memory is slow to measure)
                memory_only = frozenset({MEMORY})
                routes.append(Route(f"emulator ({name}), Codex request, store: false", "emulator", direct_api, url, key,
                                    bodies.codex_store_false, gateway, memory_only))
                routes.append(Route(f"emulator ({name}), Codex request, store: true", "emulator", direct_api, url, key,
                                    bodies.codex_store_true, gateway, memory_only))
    for name, gateway in workers.items():  # the same gateway with more workers: its rate only
        for mode, path, body in (("bypass", "/v1/chat/completions", bodies.chat), ("emulator", "/v1/responses", bodies.responses)):
            if mode in gateway.keys and mode in modes:
                routes.append(Route(f"{mode} ({name})", mode, direct_chat if mode == "bypass" else direct_api,
                                    gateway.url + path, gateway.keys[mode], body, gateway, frozenset({RPS}),
                                    one_worker=f"{mode} ({name.split(',')[0]})"))
    return routes


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# --- (a) sequential latency -------------------------------------------------------------------


async def latency(routes: list[Route], profile: Profile) -> dict[str, dict[str, float]]:
    routes = [r for r in routes if LATENCY in r.phases]
    targets = {r.label: r.target("hi", False) for r in routes}
    conns = {label: await client.connect(t) for label, t in targets.items()}
    samples: dict[str, list[float]] = {label: [] for label in targets}
    for label, target in targets.items():  # warm-up: caches, connection pools, lazy imports
        await client.sequential(target, profile.latency_warmup, conns[label])
    for _ in range(profile.latency_rounds):
        for label, target in targets.items():
            samples[label] += await client.sequential(target, profile.latency_per_round, conns[label])
    for conn in conns.values():
        if conn.transport is not None:
            conn.transport.close()
    out: dict[str, dict[str, float]] = {}
    for route in routes:
        s = samples[route.label]
        row = {"p50_ms": _pct(s, 0.5) * 1e3, "p99_ms": _pct(s, 0.99) * 1e3, "n": len(s)}
        if route.direct:
            direct = samples[route.direct]
            row["added_p50_ms"] = row["p50_ms"] - _pct(direct, 0.5) * 1e3
            row["added_p99_ms"] = row["p99_ms"] - _pct(direct, 0.99) * 1e3
        out[route.label] = row
    return out


# --- (b) throughput at concurrency 32 ---------------------------------------------------------


async def throughput(routes: list[Route], profile: Profile, use_wrk: bool) -> dict[str, dict[str, Any]]:
    routes = [r for r in routes if RPS in r.phases]
    totals = {r.label: [0, 0, 0.0, 0.0] for r in routes}
    kinds: dict[str, dict[str, int]] = {r.label: {} for r in routes}
    for _ in range(profile.rps_rounds):
        for route in routes:
            target = route.target("hi", False)
            cpu_before = cpu_seconds(route.process.pid) if route.process else 0.0
            if use_wrk:
                ok, by_kind, seconds = await asyncio.to_thread(wrk.run, target, CONCURRENCY, profile.rps_seconds)
            else:
                result = await client.closed_loop(target, CONCURRENCY, profile.rps_seconds)
                ok, seconds = result.requests, result.seconds
                by_kind = {"failed": result.errors} if result.errors else {}
            errors = sum(by_kind.values())
            for kind, count in by_kind.items():
                kinds[route.label][kind] = kinds[route.label].get(kind, 0) + count
            totals[route.label][0] += ok
            totals[route.label][1] += errors
            totals[route.label][2] += seconds
            if route.process:
                totals[route.label][3] += cpu_seconds(route.process.pid) - cpu_before
    out: dict[str, dict[str, Any]] = {}
    for route in routes:
        ok, errors, seconds, cpu = totals[route.label]
        out[route.label] = {"rps": ok / seconds if seconds else 0.0, "errors": errors, "error_kinds": kinds[route.label],
                            "client": "wrk" if use_wrk else "bench.client"}
        if route.process and ok:
            # CPU per request is what the process costs, whatever else the machine is doing.
            out[route.label]["cpu_ms_per_request"] = cpu / ok * 1e3
    for route in routes:
        if route.direct and out[route.direct]["rps"]:
            out[route.label]["ratio"] = out[route.label]["rps"] / out[route.direct]["rps"]
        if route.one_worker in out and out[route.one_worker]["rps"]:
            out[route.label]["ratio_to_one_worker"] = out[route.label]["rps"] / out[route.one_worker]["rps"]
    return out


# --- (c) concurrent streams -------------------------------------------------------------------


async def streaming(routes: list[Route], profile: Profile) -> dict[str, dict[str, Any]]:
    routes = [r for r in routes if STREAMS in r.phases]
    acc: dict[str, dict[str, Any]] = {r.label: {"tokens": 0, "seconds": 0.0, "ttfb": [], "cpu": 0.0, "errors": []} for r in routes}
    spec = f"tokens={STREAM_TOKENS} delay={STREAM_PACE}"
    for route in routes:  # warm-up
        await client.streams(route.target(spec, True), 4, LAST_TOKEN)
    for _ in range(profile.stream_rounds):
        for route in routes:
            cpu_before = cpu_seconds(route.process.pid) if route.process else 0.0
            run = await client.streams(route.target(spec, True), profile.streams, LAST_TOKEN)
            a = acc[route.label]
            if route.process:
                a["cpu"] += cpu_seconds(route.process.pid) - cpu_before
            a["tokens"] += run.complete * STREAM_TOKENS
            a["seconds"] += run.seconds
            a["ttfb"] += run.first_bytes
            a["errors"] += run.errors
    out: dict[str, dict[str, Any]] = {}
    for route in routes:
        a = acc[route.label]
        row: dict[str, Any] = {
            "tokens_per_s": a["tokens"] / a["seconds"] if a["seconds"] else 0.0,
            "ttfb_p50_ms": _pct(a["ttfb"], 0.5) * 1e3,
            "errors": len(a["errors"]),
            "first_errors": a["errors"][:3],
        }
        if route.process and a["tokens"]:
            row["cpu_us_per_token"] = a["cpu"] / a["tokens"] * 1e6
        out[route.label] = row
    for route in routes:
        if route.direct:
            direct = out[route.direct]
            out[route.label]["ratio"] = out[route.label]["tokens_per_s"] / direct["tokens_per_s"] if direct["tokens_per_s"] else 0.0
            out[route.label]["added_ttfb_ms"] = out[route.label]["ttfb_p50_ms"] - direct["ttfb_p50_ms"]
    return out


# --- (d) memory with 1,000 open streams, and abandoned streams --------------------------------


async def open_streams(route: Route, fake: Process, profile: Profile) -> dict[str, Any]:
    """``open_streams`` long streams opened at once (a crowd of clients), then all abandoned."""
    assert route.process is not None
    process, settle = route.process, profile.settle_seconds
    if profile.fresh_for_memory:
        await asyncio.to_thread(process.restart)  # idle and added memory of a fresh process, not of the phases before
    await client.streams(route.target("tokens=5", True), 4, b"tok4")  # warm: lazy imports, caches, pools
    await asyncio.sleep(settle + 0.5)
    pid = process.pid
    idle = rss_bytes(pid)
    before = fake_stats(fake)
    counters_before = listen_counters()
    # Long streams: 500 tokens half a second apart, so each is still running when measured.
    target = route.target(f"tokens={STREAM_TOKENS} delay=0.5", True)
    conns, started, reset = await client.open_streams(target, profile.open_streams, timeout=60)
    counters = {name: value - counters_before.get(name, 0) for name, value in listen_counters().items()}
    await asyncio.sleep(settle)
    loaded = rss_bytes(pid)
    upstream_open = fake_stats(fake)["open_streams"] - before["open_streams"]
    client.abort_all(conns)
    t0 = time.perf_counter()
    closed_after = None
    while time.perf_counter() - t0 < 30:
        if fake_stats(fake)["open_streams"] <= before["open_streams"]:
            closed_after = time.perf_counter() - t0
            break
        await asyncio.sleep(0.1)
    left = fake_stats(fake)["open_streams"] - before["open_streams"]
    await asyncio.sleep(settle)
    return {
        "streams": profile.open_streams,
        "request_bytes": len(target.body),
        "fresh_process": profile.fresh_for_memory,
        "idle_mb": idle / 2**20,
        "loaded_mb": loaded / 2**20,
        "added_mb": (loaded - idle) / 2**20,
        "kb_per_stream": (loaded - idle) / 1024 / started if started else None,
        "streams_started": started,
        "reset_before_first_byte": reset,
        "listen_backlog": listen_backlog(process.port),
        "listen_counters": counters,  # whole machine, over the connecting phase
        "upstream_open_while_loaded": upstream_open,
        "upstream_closed_after_s": closed_after,
        "upstream_left_open": left,
        "after_mb": rss_bytes(pid) / 2**20,
    }


# --- the run ----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    except (OSError, ValueError):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gb": round(mem / 2**30, 1), "python": platform.python_version(),
            "load_at_start": round(load, 2)}


def _start_all(fake: Process, args: argparse.Namespace, modes: list[str], started: list[Process]) -> tuple[
    Process, dict[str, Process], dict[str, Process]
]:
    """The reference, the gateways and the several-worker gateway, started side by side (each waits
    for its CLI calls and its health check)."""
    engines = args.engines.split(",")
    jobs: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        jobs["reference"] = pool.submit(start_bare_proxy, fake.url)
        for engine in engines:
            jobs[engine] = pool.submit(start_gateway, fake.url, engine, modes)
        for variant in args.variant:
            # NAME:VAR=VALUE[,VAR=VALUE]: one more gateway (default engine) with these settings.
            name, _, assignments = variant.partition(":")
            extra = dict(item.split("=", 1) for item in assignments.split(",") if "=" in item)
            print(f"  variant {name}: {extra}", flush=True)
            jobs[name] = pool.submit(start_gateway, fake.url, engines[0], modes, extra_env=extra)
        workers_name = f"{engines[0]}, {args.workers} workers"
        if args.workers > 1:
            jobs[workers_name] = pool.submit(start_gateway, fake.url, engines[0], modes, workers=args.workers)
        processes: dict[str, Process] = {}
        failure: BaseException | None = None
        for name, job in jobs.items():
            try:
                processes[name] = job.result()
                started.append(processes[name])
            except BaseException as exc:  # noqa: BLE001 - stop the others before raising
                failure = failure or exc
    if failure is not None:
        raise failure
    reference = processes.pop("reference")
    workers = {workers_name: processes.pop(workers_name)} if workers_name in processes else {}
    return reference, processes, workers


_T0 = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - _T0:5.1f} s] {message}", flush=True)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    profile = QUICK if args.quick else FULL
    modes = args.modes.split(",")
    started: list[Process] = []
    results: dict[str, Any] = {
        "machine": machine(), "profile": profile.__dict__, "modes": modes, "engines": args.engines.split(","),
        "variants": args.variant, "command": args.command,
    }
    wrk_path, results["wrk"] = wrk.ensure()
    say(results["wrk"])
    try:
        fake = start_fake(Path(os.environ.get("TMPDIR", "/tmp")))
        started.append(fake)
        say(f"starting the reference proxy and the gateways ({args.engines}; {args.workers} workers beside one) ...")
        reference, gateways, workers = await asyncio.to_thread(_start_all, fake, args, modes, started)
        litellm = find_litellm() if not args.no_litellm else None
        if litellm:
            say(f"starting LiteLLM ({litellm}) ...")
            try:
                gateways["litellm"] = start_litellm(litellm, fake.url)
                started.append(gateways["litellm"])
            except RuntimeError as exc:
                say(f"  LiteLLM did not start, skipped: {str(exc)[:500]}")
        routes = routes_for(fake, reference, gateways, modes, workers)
        results["routes"] = {r.label: {"kind": r.kind, "direct": r.direct, "one_worker": r.one_worker} for r in routes}
        results["idle_mb"] = {p.name: rss_bytes(p.pid) / 2**20 for p in [reference, *gateways.values(), *workers.values()]}
        if not args.memory_only:
            say("(a) sequential latency ...")
            results["latency"] = await latency(routes, profile)
            say(f"(b) throughput at concurrency {CONCURRENCY} ({'wrk' if wrk_path else 'bench.client: wrk is missing'}) ...")
            results["throughput"] = await throughput(routes, profile, use_wrk=wrk_path is not None)
        for process in workers.values():  # only measured in (b): give its cores back
            process.stop()
        if not args.memory_only:
            say(f"(c) {profile.streams} concurrent streams of {STREAM_TOKENS} tokens, {1 / STREAM_PACE:.0f} tokens/s each ...")
            results["streaming"] = await streaming(routes, profile)
        if not args.skip_memory:
            results["open_streams"] = {}
            for route in routes:
                if MEMORY in route.phases and route.process is not None:
                    say(f"(d) {profile.open_streams} streams at once through {route.label} ...")
                    results["open_streams"][route.label] = await open_streams(route, fake, profile)
    finally:
        for process in reversed(started):
            process.stop()
    say("done")
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run, well under a minute (small counts, no fresh restarts)")
    parser.add_argument("--engines", default="aiohttp", help="upstream client engines to compare, comma-separated")
    parser.add_argument("--modes", default="bypass,emulator", help="modes to measure, comma-separated")
    parser.add_argument(
        "--variant", action="append", default=[], metavar="NAME:VAR=VALUE,...",
        help="also measure a gateway with these LLMGATE_* settings, e.g. no-metrics:LLMGATE_PLUGINS_DISABLED=metrics",
    )
    parser.add_argument("--workers", type=int, default=2,
                        help="also measure the rate of a gateway with this many workers (1: leave it out)")
    parser.add_argument("--skip-memory", action="store_true", help="leave out (d), the 1,000 open streams")
    parser.add_argument("--memory-only", action="store_true", help="only (d), the 1,000 open streams")
    parser.add_argument("--no-litellm", action="store_true", help="do not run LiteLLM even when installed")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    args.command = "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(hard, 8192):  # 1,000 streams need 2,000+ sockets in the gateway; children inherit this
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    loop = client.new_loop()
    try:
        results = loop.run_until_complete(run(args))
    finally:
        loop.close()
    print()
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
