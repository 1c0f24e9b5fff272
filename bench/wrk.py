"""Throughput through ``wrk``: a C client costs far less CPU per request than any Python client,
which matters on a 2-core machine where client, fake and gateway share the cores (a Python client
cannot load two gateway workers at all). ``ensure`` installs it from Debian's packages when it is
missing; where that fails the benchmark says why and falls back to ``bench.client.closed_loop``."""

from __future__ import annotations

import os
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


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run([*prefix, "apt-get", *args], check=False, capture_output=True, text=True, timeout=600, env=env)


def ensure() -> tuple[str | None, str]:
    """(path to wrk or None, what happened): installs Debian's ``wrk`` package when it is missing."""
    path = available()
    if path:
        return path, f"wrk: {path}"
    if shutil.which("apt-get") is None:
        return None, "wrk is missing and this system has no apt-get: install wrk by hand"
    print("wrk is missing: installing it with apt-get install -y wrk ...", flush=True)
    try:
        result = _apt("install", "-y", "wrk")
        if result.returncode != 0 and "Unable to locate package" in result.stderr:
            _apt("update")  # a fresh container has no package lists yet
            result = _apt("install", "-y", "wrk")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"could not run apt-get to install wrk ({exc}): install wrk by hand"
    path = available()
    if path:
        return path, f"wrk: installed {path} from Debian's packages"
    reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
    return None, f"apt-get install -y wrk failed ({reason}): install wrk by hand (needs root)"


def run(target: Target, concurrency: int, seconds: float) -> tuple[int, dict[str, int], float]:
    """(successful requests, failed requests by kind, seconds) for one closed-loop run.

    The kinds are wrk's: ``non-2xx`` answers, and socket errors ``connect``, ``read``, ``write`` and
    ``timeout``. A timeout is a slow answer, not a failed one: wrk counts an answer that took over
    its 2 s when it arrives (it is among the successful requests too), and each request still
    outstanding after 2 s at each of its 2-second checks."""
    auth = f'wrk.headers["Authorization"] = "Bearer {target.key}"' if target.key else ""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_SCRIPT.format(body=target.body.decode(), auth=auth))
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "-s", script.name, target.url],
            check=False, capture_output=True, text=True, timeout=seconds + 30,
        ).stdout
    finally:
        Path(script.name).unlink(missing_ok=True)
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if total is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    requests = int(total.group(1))
    elapsed = float(total.group(2)) / (1000 if total.group(3) == "ms" else 1)
    errors: dict[str, int] = {}
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        errors["non-2xx"] = int(bad.group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        for kind, count in zip(("connect", "read", "write", "timeout"), socket_errors.groups(), strict=True):
            if int(count):
                errors[kind] = int(count)
    return requests - errors.get("non-2xx", 0), errors, elapsed
