"""Harness that installs and runs the real Vercel AI SDK (``ai`` + ``@ai-sdk/openai``) for end-to-end tests.

- :func:`ensure_vercel_ai` installs the versions pinned in ``tests/e2e/vercel_ai/package.json`` with npm into
  ``.cache/vercel-ai-<digest of package.json>/`` (once; guarded by a file lock) and returns that folder.
- :func:`run_scenario` runs ``tests/e2e/vercel_ai/run.mjs <scenario>`` there against a gateway and returns
  the JSON it prints.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.codex_cli import REPO_ROOT, _file_lock, _install_env

HARNESS_DIR = Path(__file__).resolve().parent / "vercel_ai"
PACKAGE_JSON = HARNESS_DIR / "package.json"
_INSTALLED_MARKER = ".installed"


class VercelAIUnavailable(RuntimeError):
    """node or npm is missing. Tests may skip on this (not under CI)."""


class VercelAIInstallError(RuntimeError):
    """npm was found but installing the SDK failed (registry, network, broken package)."""


def _cache_dir() -> Path:
    digest = hashlib.sha256(PACKAGE_JSON.read_bytes()).hexdigest()[:12]
    return REPO_ROOT / ".cache" / f"vercel-ai-{digest}"


def ensure_vercel_ai(*, timeout: float = 600) -> Path:
    """The folder holding ``node_modules`` with the pinned SDK; installs it on first use."""
    if shutil.which("node") is None:
        raise VercelAIUnavailable("node is not on PATH; the Vercel AI SDK e2e tests need it")
    cache_dir = _cache_dir()
    if (cache_dir / _INSTALLED_MARKER).is_file():
        return cache_dir
    npm = shutil.which("npm")
    if npm is None:
        raise VercelAIUnavailable("npm is not on PATH; cannot install the Vercel AI SDK for the e2e tests")
    with _file_lock(cache_dir.parent / f"{cache_dir.name}.lock"):
        if (cache_dir / _INSTALLED_MARKER).is_file():  # another process finished while we waited
            return cache_dir
        if cache_dir.exists():  # leftovers of an interrupted install
            shutil.rmtree(cache_dir)
        cache_dir.mkdir(parents=True)
        shutil.copyfile(PACKAGE_JSON, cache_dir / "package.json")
        cmd = [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--no-package-lock"]
        try:
            proc = subprocess.run(cmd, cwd=cache_dir, env=_install_env(), stdin=subprocess.DEVNULL, check=False,
                                  capture_output=True, text=True, timeout=timeout)  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise VercelAIInstallError(f"`{' '.join(cmd)}` timed out after {timeout}s") from exc
        if proc.returncode != 0:
            raise VercelAIInstallError(
                f"`{' '.join(cmd)}` failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        (cache_dir / _INSTALLED_MARKER).write_text(PACKAGE_JSON.read_text())
    return cache_dir


def run_scenario(
    sdk_dir: Path, scenario: str, *, base_url: str, api_key: str, timeout: float = 60
) -> dict[str, Any]:
    """Run one scenario of ``run.mjs``; its JSON output, or an AssertionError with node's stderr."""
    # ESM resolves packages next to the script, so the script runs from the install folder.
    script = sdk_dir / "run.mjs"
    staged = sdk_dir / f"run.{os.getpid()}.mjs"
    shutil.copyfile(HARNESS_DIR / "run.mjs", staged)
    os.replace(staged, script)  # atomic: a parallel test never runs half a file
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(sdk_dir), "LLMGATE_URL": base_url,
           "LLMGATE_KEY": api_key, "NO_COLOR": "1"}  # fmt: skip
    proc = subprocess.run(["node", str(script), scenario], cwd=sdk_dir, env=env, stdin=subprocess.DEVNULL,
                          check=False, capture_output=True, text=True, timeout=timeout)  # fmt: skip
    assert proc.returncode == 0, (
        f"node run.mjs {scenario} exited {proc.returncode}:\n{proc.stderr}\n{proc.stdout}"
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])
