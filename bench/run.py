"""The benchmark: the gateway against the fake upstream called directly, in the same run.

Each measurement is taken in rounds; within a round every target (the fake directly, each mode
through each gateway) takes its turn, so drifting machine load hits all of them alike.

    python -m bench            # full run (about 5 minutes per engine)
    python -m bench --quick    # a smoke run of about a minute
    python -m bench --engines aiohttp,httpx   # compare the upstream client engines
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench import client, wrk
from bench.processes import (
    MODEL,
    Process,
    cpu_seconds,
    fake_stats,
    find_litellm,
    rss_bytes,
    start_fake,
    start_gateway,
    start_litellm,
)

STREAM_TOKENS = 500
LAST_TOKEN = b"tok%d" % (STREAM_TOKENS - 1)
EMULATED_MODEL = "gpt-5.4"

TARGETS = {  # the targets the issue sets, to print beside each figure
    "bypass_added_p50_ms": 1.0,
    "bypass_added_p99_ms": 3.0,
    "emulator_added_p50_ms": 2.0,
    "rps_ratio": 0.1,
    "bypass_stream_ratio": 0.8,
    "emulator_stream_ratio": 0.25,
    "emulator_cpu_us_per_token": 25.0,
    "streams_1000_mb": 60.0,
    "upstream_closed_s": 10.0,
}


@dataclass(frozen=True)
class Profile:
    latency_rounds: int
    latency_per_round: int
    rps_rounds: int
    rps_seconds: float
    stream_rounds: int
    streams: int
    open_streams: int


FULL = Profile(latency_rounds=20, latency_per_round=200, rps_rounds=4, rps_seconds=4, stream_rounds=5, streams=64, open_streams=1000)
QUICK = Profile(latency_rounds=4, latency_per_round=100, rps_rounds=1, rps_seconds=2, stream_rounds=1, streams=64, open_streams=1000)


def _chat(text: str, stream: bool) -> bytes:
    return orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": text}], "stream": stream})


def _responses(text: str, stream: bool) -> bytes:
    return orjson.dumps({"model": EMULATED_MODEL, "input": text, "stream": stream, "store": False})


@dataclass(frozen=True)
class Route:
    """One way through: a label, the target builder, and which direct call it is compared with."""

    label: str
    direct: str  # label of the direct route it is compared with ("" for direct routes)
    url: str
    key: str | None
    body: Any  # (text, stream) -> bytes
    process: Process | None = None

    def target(self, text: str, stream: bool) -> client.Target:
        return client.Target(self.label, self.url, self.body(text, stream), self.key)


def routes_for(fake: Process, gateways: dict[str, Process], modes: list[str]) -> list[Route]:
    routes = [
        Route("direct /v1/chat/completions", "", fake.url + "/v1/chat/completions", None, _chat),
    ]
    if "emulator" in modes:
        routes.append(Route("direct /api/chat", "", fake.url + "/api/chat", None, _chat))
    for name, gateway in gateways.items():
        if "bypass" in gateway.keys:
            routes.append(
                Route(f"bypass ({name})", "direct /v1/chat/completions", gateway.url + "/v1/chat/completions",
                      gateway.keys["bypass"], _chat, gateway)
            )
        if "emulator" in gateway.keys and "emulator" in modes:
            routes.append(
                Route(f"emulator ({name})", "direct /api/chat", gateway.url + "/v1/responses",
                      gateway.keys["emulator"], _responses, gateway)
            )
    return routes


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# --- (a) sequential latency -------------------------------------------------------------------


async def latency(routes: list[Route], profile: Profile) -> dict[str, dict[str, float]]:
    targets = {r.label: r.target("hi", False) for r in routes}
    conns = {label: await client.connect(t) for label, t in targets.items()}
    samples: dict[str, list[float]] = {label: [] for label in targets}
    for label, target in targets.items():  # warm-up: caches, connection pools, JIT-less but lazy imports
        await client.sequential(target, 200, conns[label])
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


async def throughput(routes: list[Route], profile: Profile, concurrency: int = 32) -> dict[str, dict[str, float]]:
    totals = {r.label: [0, 0, 0.0, 0.0] for r in routes}
    use_wrk = wrk.available()
    for _ in range(profile.rps_rounds):
        for route in routes:
            target = route.target("hi", False)
            cpu_before = cpu_seconds(route.process.pid) if route.process else 0.0
            if use_wrk:
                ok, errors, seconds = await asyncio.to_thread(wrk.run, target, concurrency, profile.rps_seconds)
            else:
                result = await client.closed_loop(target, concurrency, profile.rps_seconds)
                ok, errors, seconds = result.requests, result.errors, result.seconds
            totals[route.label][0] += ok
            totals[route.label][1] += errors
            totals[route.label][2] += seconds
            if route.process:
                totals[route.label][3] += cpu_seconds(route.process.pid) - cpu_before
    out: dict[str, dict[str, float]] = {}
    for route in routes:
        ok, errors, seconds, cpu = totals[route.label]
        out[route.label] = {"rps": ok / seconds, "errors": errors, "client": "wrk" if use_wrk else "bench.client"}
        if route.process and ok:
            # CPU per request is what the gateway costs, whatever else the machine is doing.
            out[route.label]["cpu_ms_per_request"] = cpu / ok * 1e3
    for route in routes:
        if route.direct:
            out[route.label]["ratio"] = out[route.label]["rps"] / out[route.direct]["rps"]
    return out


# --- (c) concurrent streams -------------------------------------------------------------------


async def streaming(routes: list[Route], profile: Profile) -> dict[str, dict[str, Any]]:
    acc: dict[str, dict[str, Any]] = {r.label: {"tokens": 0, "seconds": 0.0, "ttfb": [], "cpu": 0.0, "errors": []} for r in routes}
    spec = f"tokens={STREAM_TOKENS}"
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
            a["errors"] += run.errors[:3]
    out: dict[str, dict[str, Any]] = {}
    for route in routes:
        a = acc[route.label]
        row: dict[str, Any] = {
            "tokens_per_s": a["tokens"] / a["seconds"] if a["seconds"] else 0.0,
            "ttfb_p50_ms": _pct(a["ttfb"], 0.5) * 1e3,
            "errors": a["errors"][:3],
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


async def open_streams(route: Route, fake: Process, count: int) -> dict[str, Any]:
    assert route.process is not None
    pid = route.process.pid
    await asyncio.sleep(1)
    idle = rss_bytes(pid)
    before = fake_stats(fake)
    # Long streams: 500 tokens half a second apart, so each is still running when measured.
    conns, started = await client.open_streams(route.target(f"tokens={STREAM_TOKENS} delay=0.5", True), count, timeout=60)
    await asyncio.sleep(2)
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
    await asyncio.sleep(1)
    return {
        "idle_mb": idle / 2**20,
        "loaded_mb": loaded / 2**20,
        "added_mb": (loaded - idle) / 2**20,
        "streams_started": started,
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


async def run(args: argparse.Namespace) -> dict[str, Any]:
    profile = QUICK if args.quick else FULL
    modes = args.modes.split(",")
    engines = args.engines.split(",")
    started: list[Process] = []
    results: dict[str, Any] = {
        "machine": machine(), "profile": profile.__dict__, "modes": modes, "engines": engines, "variants": args.variant,
    }
    try:
        fake = start_fake(Path(os.environ.get("TMPDIR", "/tmp")))
        started.append(fake)
        gateways: dict[str, Process] = {}
        for engine in engines:
            print(f"starting the gateway ({engine} engine) ...", flush=True)
            gateways[engine] = start_gateway(fake.url, engine, modes)
            started.append(gateways[engine])
        for variant in args.variant:
            # NAME:VAR=VALUE[,VAR=VALUE]: one more gateway (default engine) with these settings.
            name, _, assignments = variant.partition(":")
            extra = dict(item.split("=", 1) for item in assignments.split(",") if "=" in item)
            print(f"starting the gateway variant {name} ({extra}) ...", flush=True)
            gateways[name] = start_gateway(fake.url, engines[0], modes, extra_env=extra)
            started.append(gateways[name])
        litellm = find_litellm() if not args.no_litellm else None
        if litellm:
            print(f"starting LiteLLM ({litellm}) ...", flush=True)
            try:
                gateways["litellm"] = start_litellm(litellm, fake.url)
                started.append(gateways["litellm"])
            except RuntimeError as exc:
                print(f"  LiteLLM did not start, skipped: {str(exc)[:500]}", flush=True)
        else:
            print("LiteLLM not installed: its column is skipped (pip install 'litellm[proxy]' elsewhere, set LITELLM)")
        routes = routes_for(fake, gateways, modes)
        results["idle_mb"] = {name: rss_bytes(g.pid) / 2**20 for name, g in gateways.items()}
        print("(a) sequential latency ...", flush=True)
        results["latency"] = await latency(routes, profile)
        print("(b) throughput at concurrency 32 ...", flush=True)
        results["throughput"] = await throughput(routes, profile)
        print(f"(c) {profile.streams} concurrent streams of {STREAM_TOKENS} tokens ...", flush=True)
        results["streaming"] = await streaming(routes, profile)
        if not args.skip_memory:
            results["open_streams"] = {}
            for route in routes:
                if route.process is not None:
                    print(f"(d) {profile.open_streams} open streams through {route.label} ...", flush=True)
                    results["open_streams"][route.label] = await open_streams(route, fake, profile.open_streams)
    finally:
        for process in reversed(started):
            process.stop()
    return results


def _f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def report(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"machine: {m['nproc']} CPUs, {m['cpu']}, {m['ram_gb']} GB RAM, Python {m['python']}, load {m['load_at_start']} at start",
        "",
        "(a) sequential non-streaming latency",
        "| route | p50 ms | p99 ms | added p50 ms | added p99 ms |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, row in results["latency"].items():
        lines.append(f"| {label} | {_f(row['p50_ms'], 3)} | {_f(row['p99_ms'], 3)} | {_f(row.get('added_p50_ms'), 3)} | {_f(row.get('added_p99_ms'), 3)} |")
    lines += ["", "(b) requests/s at concurrency 32",
              "| route | req/s | ratio to direct | gateway CPU ms/request | errors |", "| --- | --- | --- | --- | --- |"]
    for label, row in results["throughput"].items():
        lines.append(
            f"| {label} | {row['rps']:.0f} | {_f(row.get('ratio'), 3)} | {_f(row.get('cpu_ms_per_request'), 3)} | {row['errors']} |"
        )
    lines += ["", "(c) 64 concurrent streams of 500 tokens",
              "| route | tokens/s | ratio to direct | TTFB p50 ms | added TTFB ms | gateway CPU µs/token | errors |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for label, row in results["streaming"].items():
        lines.append(
            f"| {label} | {row['tokens_per_s']:.0f} | {_f(row.get('ratio'), 3)} | {_f(row['ttfb_p50_ms'], 1)} | "
            f"{_f(row.get('added_ttfb_ms'), 1)} | {_f(row.get('cpu_us_per_token'), 1)} | {'; '.join(row['errors']) or 0} |"
        )
    if results.get("open_streams"):
        lines += ["", "(d) memory and abandoned streams",
                  "| route | idle MB | with streams MB | added MB | streams up | upstream closed after s | left open |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for label, row in results["open_streams"].items():
            lines.append(
                f"| {label} | {row['idle_mb']:.1f} | {row['loaded_mb']:.1f} | {row['added_mb']:.1f} | "
                f"{row['streams_started']} | {_f(row['upstream_closed_after_s'], 2)} | {row['upstream_left_open']} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run of about a minute")
    parser.add_argument("--engines", default="aiohttp", help="upstream client engines to compare, comma-separated")
    parser.add_argument("--modes", default="bypass,emulator", help="modes to measure, comma-separated")
    parser.add_argument(
        "--variant", action="append", default=[], metavar="NAME:VAR=VALUE,...",
        help="also measure a gateway with these LLMGATE_* settings, e.g. no-metrics:LLMGATE_PLUGINS_DISABLED=metrics",
    )
    parser.add_argument("--skip-memory", action="store_true", help="leave out (d), the 1,000 open streams")
    parser.add_argument("--no-litellm", action="store_true", help="do not run LiteLLM even when installed")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
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
