"""Debian's Chromium for Playwright: found on PATH, installed with apt when missing and allowed.

``playwright install`` cannot download browsers here, so tests pass the system binary as
``executable_path``. Without a browser the tests skip with the reason, except when ``CI`` is set:
there a missing browser is a failure, never a silent skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

NAMES = ("chromium", "chromium-browser")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _find() -> str | None:
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _apt_install() -> str:
    """Install Debian's chromium; returns what went wrong, or "" on success."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "install", "-y", "chromium"], ["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
        if command[1] == "install" and result.returncode == 0:
            return ""
        if command[1] == "update" and result.returncode != 0:
            return f"apt-get update failed: {result.stderr.strip()[-300:]}"
    return f"apt-get install chromium failed: {result.stderr.strip()[-300:]}"


def chromium_path() -> str:
    """The chromium binary, installing it when missing (as root with apt); else skip or, on CI, fail."""
    path = _find()
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        problem = _apt_install()
        path = _find()
        if path:
            return path
        reason = f"chromium is not installed and installing it failed ({problem or 'not on PATH afterwards'})"
    else:
        reason = "chromium is not installed (run `apt-get install -y chromium` as root)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; browser tests must run on CI", pytrace=False)
    pytest.skip(reason)
