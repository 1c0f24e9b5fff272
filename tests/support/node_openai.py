"""The openai SDK for Node, installed with npm into ``.cache/`` once (file lock) for client tests.

:func:`ensure_node_openai` returns the directory to run scripts in; :func:`run_node` runs an ES
module script there, so ``import OpenAI from "openai"`` finds the installed package.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_OPENAI_VERSION = "7.59.0"
PACKAGE = f"openai@{NODE_OPENAI_VERSION}"
REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache" / f"node-openai-{NODE_OPENAI_VERSION}"
_MARKER = ".installed"


class NodeUnavailable(RuntimeError):
    """node or npm is missing; tests skip on this (and fail under CI)."""


def _installed(cache_dir: Path) -> bool:
    marker = cache_dir / _MARKER
    return marker.is_file() and marker.read_text().strip() == NODE_OPENAI_VERSION


def ensure_node_openai(cache_dir: Path = CACHE_DIR, *, timeout: float = 300) -> Path:
    if shutil.which("node") is None:
        raise NodeUnavailable("node is not on PATH; the Node openai SDK tests need it")
    if _installed(cache_dir):
        return cache_dir
    npm = shutil.which("npm")
    if npm is None:
        raise NodeUnavailable(f"npm is not on PATH; cannot install {PACKAGE}")
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(cache_dir.parent / f"{cache_dir.name}.lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            if _installed(cache_dir):  # another process finished while this one waited
                return cache_dir
            if cache_dir.exists():  # leftovers of an interrupted install
                shutil.rmtree(cache_dir)
            cache_dir.mkdir()
            (cache_dir / "package.json").write_text(
                json.dumps({"name": "llmgate-node-openai", "private": True, "type": "module"}) + "\n"
            )
            env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false"}
            cmd = [npm, "install", "--prefix", str(cache_dir), "--no-audit", "--no-fund", "--ignore-scripts",
                   "--no-package-lock", PACKAGE]  # fmt: skip
            proc = subprocess.run(
                cmd, cwd=cache_dir, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=timeout, check=False,
            )  # fmt: skip
            if proc.returncode != 0:
                raise RuntimeError(f"`{' '.join(cmd)}` failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
            (cache_dir / _MARKER).write_text(NODE_OPENAI_VERSION + "\n")
            return cache_dir
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def node_openai_or_skip() -> Path:
    """The install directory; skips without node/npm, fails instead under CI=true."""
    try:
        return ensure_node_openai()
    except NodeUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Node openai SDK tests: {exc}")
        pytest.skip(str(exc))


def run_node(cache_dir: Path, script: str, env: dict[str, str], *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``script`` as an ES module in ``cache_dir``, with ``env`` added to a minimal environment."""
    base = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(cache_dir)}
    return subprocess.run(
        ["node", "--input-type=module", "-e", script], cwd=cache_dir, env={**base, **env},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
