"""CPU per request, and where it goes: one gateway worker and the reference under the same load.

    python -m bench.profile                      # CPU ms per request, bypass, emulator, reference
    python -m bench.profile --svg docs           # also py-spy flame graphs: docs/profile-<route>.svg

The load is the bench's own client at concurrency 32, non-streaming, in interleaved rounds; CPU is
read from /proc, so the figure holds on a busy machine where requests per second do not. A quick
way to see what a change costs before running the whole bench.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import bodies, client
from bench.processes import Process, cpu_seconds, start_bare_proxy, start_fake, start_gateway

CONCURRENCY = 32


def _targets(fake: Process, reference: Process, gateway: Process) -> dict[str, tuple[Process, client.Target]]:
    return {
        "reference": (
            reference,
            client.Target("reference", reference.url + "/v1/chat/completions", bodies.chat("hi", False)),
        ),
        "bypass": (
            gateway,
            client.Target(
                "bypass",
                gateway.url + "/v1/chat/completions",
                bodies.chat("hi", False),
                gateway.keys["bypass"],
            ),
        ),
        "emulator": (
            gateway,
            client.Target(
                "emulator",
                gateway.url + "/v1/responses",
                bodies.responses("hi", False),
                gateway.keys["emulator"],
            ),
        ),
    }


async def measure(
    targets: dict[str, tuple[Process, client.Target]], rounds: int, seconds: float
) -> dict[str, float]:
    cpu = dict.fromkeys(targets, 0.0)
    done = dict.fromkeys(targets, 0)
    for name, (_, target) in targets.items():  # warm-up, left out
        await client.closed_loop(target, CONCURRENCY, 1.0)
    for _ in range(rounds):
        for name, (process, target) in targets.items():
            before = cpu_seconds(process.pid)
            result = await client.closed_loop(target, CONCURRENCY, seconds)
            cpu[name] += cpu_seconds(process.pid) - before
            done[name] += result.requests
            if result.errors:
                print(f"  {name}: {result.errors} errors", flush=True)
    return {name: cpu[name] / done[name] * 1e3 if done[name] else float("nan") for name in targets}


async def flame(process: Process, target: client.Target, seconds: float, out: Path) -> None:
    """py-spy's samples of ``process`` under load: a flame graph (.svg) or collapsed stacks (.txt)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    kind = "raw" if out.suffix == ".txt" else "flamegraph"
    recorder = await asyncio.create_subprocess_exec(
        spy, "record", "--rate", "200", "--duration", str(int(seconds)), "--nonblocking", "--format", kind,
        "-o", str(out), "--pid", str(process.pid), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    await client.closed_loop(target, CONCURRENCY, seconds + 1)
    await recorder.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--svg", type=Path, help="write py-spy flame graphs (profile-<route>.svg) here")
    parser.add_argument(
        "--stacks", type=Path, help="write py-spy's collapsed stacks (profile-<route>.txt) here"
    )
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="llmgate-profile-"))
    started: list[Process] = []
    try:
        fake = start_fake(workdir)
        started.append(fake)
        reference = start_bare_proxy(fake.url)
        started.append(reference)
        gateway = start_gateway(fake.url, "aiohttp", ["bypass", "emulator"])
        started.append(gateway)
        targets = _targets(fake, reference, gateway)
        loop = client.new_loop()
        try:
            result = loop.run_until_complete(measure(targets, args.rounds, args.seconds))
            for name, ms in result.items():
                print(f"{name:10s} {ms:.3f} ms CPU per request", flush=True)
            for folder, suffix in ((args.svg, "svg"), (args.stacks, "txt")):
                if folder is None:
                    continue
                folder.mkdir(parents=True, exist_ok=True)
                for name in ("bypass", "emulator"):
                    process, target = targets[name]
                    loop.run_until_complete(flame(process, target, 8, folder / f"profile-{name}.{suffix}"))
        finally:
            loop.close()
    finally:
        for process in reversed(started):
            process.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
