"""Throughput through ``wrk`` when it is installed: a C client costs far less CPU per request
than any Python client, which matters on a 2-core machine where client, fake and gateway share
the cores. Without wrk the benchmark falls back to ``bench.client.closed_loop``."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.client import Target

_SCRIPT = """wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
{auth}
"""


def available() -> str | None:
    return shutil.which("wrk")


def run(target: Target, concurrency: int, seconds: float) -> tuple[int, int, float]:
    """(successful requests, non-2xx or failed requests, seconds) for one closed-loop run."""
    auth = f'wrk.headers["Authorization"] = "Bearer {target.key}"' if target.key else ""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_SCRIPT.format(body=target.body.decode(), auth=auth))
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "-s", script.name, target.url],
            capture_output=True, text=True, timeout=seconds + 30,
        ).stdout
    finally:
        Path(script.name).unlink(missing_ok=True)
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if total is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    requests = int(total.group(1))
    elapsed = float(total.group(2)) / (1000 if total.group(3) == "ms" else 1)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return requests - (int(bad.group(1)) if bad else 0), errors, elapsed
