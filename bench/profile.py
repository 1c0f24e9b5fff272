"""CPU per request, and where it goes: one gateway worker and the reference under the same load.

    python -m bench.profile                      # CPU ms per request: reference, bypass, emulator
    python -m bench.profile --streams            # CPU µs per streamed token (64 paced streams)
    python -m bench.profile --svg docs           # also py-spy flame graphs: docs/profile-<route>.svg
    python -m bench.profile --stacks out         # py-spy's collapsed stacks instead, to add up
    python -m bench.profile --breakdown          # µs per request part by part (bench/breakdown.py)

The load is the bench's own client (concurrency 32, non-streaming; or the bench's paced streams)
in interleaved rounds; CPU is read from /proc, so the figure holds on a busy machine where
requests per second do not. A quick way to see what a change costs before running the whole bench.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import bodies, breakdown, client
from bench.processes import (
    Process,
    cpu_seconds,
    main_thread_cpu_seconds,
    start_bare_proxy,
    start_fake,
    start_gateway,
)

CONCURRENCY = 32
STREAMS = 64
STREAM_TOKENS = 500
STREAM_TEXT = f"tokens={STREAM_TOKENS} delay=0.005"  # the bench's (c): 200 tokens/s per stream

Targets = dict[str, tuple[Process, client.Target]]


def _targets(reference: Process, gateway: Process, stream: bool) -> Targets:
    text = STREAM_TEXT if stream else "hi"
    chat, responses = bodies.chat(text, stream), bodies.responses(text, stream)
    return {
        "reference": (reference, client.Target("reference", reference.url + "/v1/chat/completions", chat)),
        "bypass": (gateway, client.Target("bypass", gateway.url + "/v1/chat/completions", chat, gateway.keys["bypass"])),
        "emulator": (gateway, client.Target("emulator", gateway.url + "/v1/responses", responses, gateway.keys["emulator"])),
    }  # fmt: skip


async def _load(target: client.Target, stream: bool, seconds: float) -> tuple[int, int]:
    """Requests (or streamed tokens) served, and errors."""
    if not stream:
        result = await client.closed_loop(target, CONCURRENCY, seconds)
        return result.requests, result.errors
    run = await client.streams(target, STREAMS, b"tok%d" % (STREAM_TOKENS - 1))
    return run.complete * STREAM_TOKENS, len(run.errors)


async def measure(targets: Targets, rounds: int, seconds: float, stream: bool) -> dict[str, tuple[float, float]]:
    """CPU per request in ms (or per streamed token in µs): the process's, and its main thread's."""
    cpu = dict.fromkeys(targets, 0.0)
    main = dict.fromkeys(targets, 0.0)
    done = dict.fromkeys(targets, 0)
    for _, target in targets.values():  # warm-up, left out
        await _load(target, stream, 1.0)
    for _ in range(rounds):
        for name, (process, target) in targets.items():
            before, main_before = cpu_seconds(process.pid), main_thread_cpu_seconds(process.pid)
            served, errors = await _load(target, stream, seconds)
            cpu[name] += cpu_seconds(process.pid) - before
            main[name] += main_thread_cpu_seconds(process.pid) - main_before
            done[name] += served
            if errors:
                print(f"  {name}: {errors} errors", flush=True)
    scale = 1e6 if stream else 1e3
    nan = float("nan")
    return {name: (cpu[name] / done[name] * scale, main[name] / done[name] * scale) if done[name] else (nan, nan) for name in targets}


async def flame(process: Process, target: client.Target, seconds: float, out: Path, stream: bool) -> None:
    """py-spy's samples of ``process`` under load: a flame graph (.svg) or collapsed stacks (.txt)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    kind = "raw" if out.suffix == ".txt" else "flamegraph"
    recorder = await asyncio.create_subprocess_exec(
        spy, "record", "--rate", "200", "--duration", str(int(seconds)), "--nonblocking", "--format", kind,
        "-o", str(out), "--pid", str(process.pid), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + seconds + 1
    while time.monotonic() < deadline:
        await _load(target, stream, seconds + 1)
    await recorder.wait()
    if out.suffix == ".svg" and out.exists():  # its title names the command: no path of this machine
        out.write_text(out.read_text().replace(spy, "py-spy"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0, help="per round and route (requests only)")
    parser.add_argument("--streams", action="store_true", help=f"{STREAMS} paced streams instead of requests")
    parser.add_argument("--svg", type=Path, help="write py-spy flame graphs (profile-<route>.svg) here")
    parser.add_argument("--stacks", type=Path, help="write py-spy's collapsed stacks (profile-<route>.txt) here")
    parser.add_argument("--breakdown", action="store_true", help="print µs per request part by part (implies stacks)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="a setting for the gateway")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="llmgate-profile-"))
    if args.breakdown and args.stacks is None:
        args.stacks = workdir / "stacks"
    started: list[Process] = []
    try:
        fake = start_fake(workdir)
        started.append(fake)
        reference = start_bare_proxy(fake.url)
        started.append(reference)
        extra = dict(item.split("=", 1) for item in args.env)
        gateway = start_gateway(fake.url, "aiohttp", ["bypass", "emulator"], extra_env=extra)
        started.append(gateway)
        targets = _targets(reference, gateway, args.streams)
        loop = client.new_loop()
        try:
            result = loop.run_until_complete(measure(targets, args.rounds, args.seconds, args.streams))
            unit = "µs CPU per streamed token" if args.streams else "ms CPU per request"
            for name, (figure, main) in result.items():
                print(f"{name:10s} {figure:.3f} {unit} (main thread {main:.3f})", flush=True)
            for folder, suffix in ((args.svg, "svg"), (args.stacks, "txt")):
                if folder is None:
                    continue
                folder.mkdir(parents=True, exist_ok=True)
                for name, (process, target) in targets.items():
                    out = folder / f"profile-{name}{'-streams' if args.streams else ''}.{suffix}"
                    loop.run_until_complete(flame(process, target, 8, out, args.streams))
            if args.breakdown:
                suffix = "-streams" if args.streams else ""
                per = 1000 if args.streams else 1  # µs per token, as ms
                print(breakdown.table({name: (args.stacks / f"profile-{name}{suffix}.txt", result[name][0] / per, result[name][1] / per)
                                       for name in targets}, "µs/token" if args.streams else "µs/req"))  # fmt: skip
        finally:
            loop.close()
    finally:
        for process in reversed(started):
            process.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
