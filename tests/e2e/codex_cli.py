"""Harness that installs and runs the real Codex CLI (``codex exec``) for end-to-end tests.

- :func:`ensure_codex` installs ``@openai/codex@<version>`` (each of :data:`CODEX_VERSIONS`) with npm into
  ``.cache/codex-<version>/`` (once; guarded by a file lock) and returns the ``codex`` launcher.
- :func:`write_codex_home` writes a throwaway ``CODEX_HOME`` whose only provider is the gateway under test.
- :func:`run_codex_exec` runs one non-interactive ``codex exec`` turn with a clean environment.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CODEX_VERSIONS = ("0.169.0", "0.171.0")
"""The Codex releases the e2e tests run against: the oldest supported one and the newest."""
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CATALOG_PATH = REPO_ROOT / "tests" / "data" / "codex" / "catalog_gpt54_minimal.json"
DEFAULT_MODEL = "gpt-5.4"
_INSTALLED_MARKER = ".installed"


class CodexUnavailable(RuntimeError):
    """Codex cannot be installed here because a prerequisite (npm) is missing. Tests may skip on this."""


class CodexInstallError(RuntimeError):
    """npm was found but installing or verifying Codex failed (network, registry, broken package)."""


@dataclass(frozen=True)
class CodexResult:
    returncode: int
    stdout: str
    stderr: str
    last_message: str | None
    """Contents of the ``--output-last-message`` file (None if Codex wrote none)."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """Parsed JSONL events from stdout when run with ``json_events=True``."""
    duration_s: float = 0.0
    timed_out: bool = False
    args: tuple[str, ...] = ()

    def describe(self) -> str:
        """Everything useful for an assertion message."""
        return (
            f"codex exited {self.returncode} after {self.duration_s:.1f}s"
            f"{' (TIMED OUT)' if self.timed_out else ''}\nargs: {list(self.args)}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}\n"
            f"--- last message ---\n{self.last_message}"
        )


# --------------------------------------------------------------------------------------------------------
# install


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _launcher(cache_dir: Path) -> Path:
    return cache_dir / "node_modules" / ".bin" / "codex"


def _installed_ok(cache_dir: Path, version: str) -> bool:
    marker = cache_dir / _INSTALLED_MARKER
    return (
        marker.is_file()
        and marker.read_text().strip() == version
        and os.access(_launcher(cache_dir), os.X_OK)
    )


def _install_env() -> dict[str, str]:
    env = dict(os.environ)  # keep the caller's npm registry/proxy settings: the install needs the registry
    env["npm_config_update_notifier"] = "false"
    env["npm_config_fund"] = "false"
    env["npm_config_audit"] = "false"
    return env


def ensure_codex(version: str = CODEX_VERSIONS[0], cache_dir: Path | None = None, *, timeout: float = 600) -> Path:
    """Install ``@openai/codex@<version>`` into ``cache_dir`` unless already there; return the launcher.

    Raises :class:`CodexUnavailable` if npm/node are not on PATH, :class:`CodexInstallError` if the
    install or the post-install ``codex --version`` check fails.
    """
    package = f"@openai/codex@{version}"
    cache_dir = cache_dir or REPO_ROOT / ".cache" / f"codex-{version}"
    if shutil.which("node") is None:
        raise CodexUnavailable(f"node is not on PATH; the {package} launcher needs it")
    if _installed_ok(cache_dir, version):
        return _launcher(cache_dir)
    npm = shutil.which("npm")
    if npm is None:
        raise CodexUnavailable(f"npm is not on PATH; cannot install {package} for the Codex e2e tests")

    with _file_lock(cache_dir.parent / f"{cache_dir.name}.lock"):
        if _installed_ok(cache_dir, version):  # another process finished while we waited
            return _launcher(cache_dir)
        if cache_dir.exists():  # leftovers of an interrupted install
            shutil.rmtree(cache_dir)
        cache_dir.mkdir(parents=True)
        (cache_dir / "package.json").write_text(
            json.dumps({"name": "llmgate-codex-e2e", "private": True, "version": "0.0.0"}) + "\n"
        )
        cmd = [
            npm, "install", "--prefix", str(cache_dir), "--no-audit", "--no-fund", "--ignore-scripts",
            "--include=optional", "--no-package-lock", package,
        ]  # fmt: skip
        try:
            proc = subprocess.run(
                cmd, cwd=cache_dir, env=_install_env(), stdin=subprocess.DEVNULL,
                capture_output=True, text=True, timeout=timeout,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise CodexInstallError(f"`{' '.join(cmd)}` timed out after {timeout}s") from exc
        if proc.returncode != 0:
            raise CodexInstallError(
                f"`{' '.join(cmd)}` failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        launcher = _launcher(cache_dir)
        if not os.access(launcher, os.X_OK):
            raise CodexInstallError(f"npm install succeeded but {launcher} is missing")
        with tempfile.TemporaryDirectory(prefix="codex-version-") as scratch:
            # even `--version` creates $CODEX_HOME/tmp/arg0-*: keep it out of the real ~/.codex
            env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": scratch, "CODEX_HOME": scratch}
            reported = subprocess.run(
                [str(launcher), "--version"], capture_output=True, text=True, timeout=60,
                stdin=subprocess.DEVNULL, env=env,
            )  # fmt: skip
        if reported.returncode != 0 or version not in reported.stdout:
            raise CodexInstallError(
                f"{launcher} --version gave {reported.returncode}: {reported.stdout!r} {reported.stderr!r} "
                "(is the platform's optional native package missing?)"
            )
        (cache_dir / _INSTALLED_MARKER).write_text(version + "\n")
        return launcher


# --------------------------------------------------------------------------------------------------------
# CODEX_HOME


def _toml_str(value: str) -> str:
    # JSON string escapes are a subset of TOML basic-string escapes.
    return json.dumps(value, ensure_ascii=False)


def write_codex_home(
    tmp: Path,
    *,
    base_url: str,
    env_key: str = "GATEWAY_API_KEY",
    catalog: dict[str, Any] | None = None,
    model: str = DEFAULT_MODEL,
    stream_idle_timeout_ms: int = 10_000,
    extra_config: str = "",
) -> Path:
    """Write ``tmp/codex_home`` (config.toml + model catalog) for a single ``gateway`` provider.

    ``base_url`` is the provider base including ``/v1`` (Codex appends ``/responses``). ``catalog`` defaults to
    ``tests/data/codex/catalog_gpt54_minimal.json``. ``extra_config`` (TOML: top-level keys and/or new tables)
    is inserted before ``[analytics]``; override provider keys per run with
    ``extra_args=("-c", "model_providers.gateway.stream_max_retries=2")`` instead.
    """
    home = tmp / "codex_home"
    home.mkdir(parents=True, exist_ok=True)
    catalog_path = home / "model_catalog.json"
    if catalog is None:
        shutil.copyfile(DEFAULT_CATALOG_PATH, catalog_path)
    else:
        catalog_path.write_text(json.dumps(catalog, indent=1))
    config = f"""\
model = {_toml_str(model)}
model_provider = "gateway"
model_catalog_json = {_toml_str(str(catalog_path))}
approval_policy = "never"
sandbox_mode = "danger-full-access"
check_for_update_on_startup = false
{extra_config}
[analytics]
enabled = false

[model_providers.gateway]
name = "Gateway"
base_url = {_toml_str(base_url)}
env_key = {_toml_str(env_key)}
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
stream_idle_timeout_ms = {int(stream_idle_timeout_ms)}
"""
    (home / "config.toml").write_text(config)
    return home


def _read_env_key(codex_home: Path) -> str:
    text = (codex_home / "config.toml").read_text()
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().rpartition(".")[2] == "env_key":  # also `model_providers.x.env_key = ...`
            return str(json.loads(value.strip()))
    return "GATEWAY_API_KEY"


# --------------------------------------------------------------------------------------------------------
# run


_PASSTHROUGH_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")


def codex_env(codex_home: Path, home: Path, api_key: str, env_key: str) -> dict[str, str]:
    """A clean environment: no proxies, no RUST_LOG, no OPENAI_* leaking in from the caller.

    TMPDIR is private to the run (a sibling of CODEX_HOME): with CODEX_HOME under the system temp dir Codex
    otherwise warns "Refusing to create helper binaries under temporary dir" on every run.
    """
    env = {k: os.environ[k] for k in _PASSTHROUGH_ENV if k in os.environ}
    env.setdefault("PATH", os.defpath)
    tmpdir = codex_home.parent / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        TMPDIR=str(tmpdir),
        CODEX_HOME=str(codex_home),
        TERM="dumb",
        NO_COLOR="1",
        NO_PROXY="*",
        no_proxy="*",
    )
    env[env_key] = api_key
    return env


def run_codex_exec(
    codex: Path,
    codex_home: Path,
    workdir: Path,
    prompt: str,
    api_key: str,
    timeout: float = 120,
    *,
    json_events: bool = False,
    extra_args: Sequence[str] = (),
    home: Path | None = None,
    ephemeral: bool = True,
    resume_last: bool = False,
) -> CodexResult:
    """Run ``codex exec`` once in ``workdir`` and capture everything.

    ``home`` (the HOME of the child) defaults to ``<codex_home parent>/home``. With ``json_events`` stdout is
    Codex's JSONL event stream (parsed into ``events``); otherwise it is the final answer only. ``ephemeral``
    (default) keeps Codex from writing session files under CODEX_HOME; ``resume_last`` continues the newest
    recorded session in ``workdir`` (``codex exec resume --last``), which needs an earlier non-ephemeral run.
    """
    home = home or codex_home.parent / "home"
    home.mkdir(parents=True, exist_ok=True)
    last_message_file = codex_home.parent / f"last_message_{time.monotonic_ns()}.txt"
    args = [
        str(codex), "exec",
        "--skip-git-repo-check",
        *(["--ephemeral"] if ephemeral else []),
        "--color", "never",
        "--cd", str(workdir),
        "--output-last-message", str(last_message_file),
        *(["--json"] if json_events else []),
        *extra_args,
        *(["resume", "--last"] if resume_last else []),
        "--", prompt,
    ]  # fmt: skip
    env = codex_env(codex_home, home, api_key, _read_env_key(codex_home))
    started = time.monotonic()
    proc = subprocess.Popen(
        args, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    timed_out = False
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the node launcher and the native binary it spawned
        except ProcessLookupError:
            pass
        stdout, stderr = proc.communicate()
    duration = time.monotonic() - started
    last_message = last_message_file.read_text() if last_message_file.exists() else None
    events: list[dict[str, Any]] = []
    if json_events:
        for line in stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    return CodexResult(
        returncode=proc.returncode,
        stdout=stdout,
        stderr=stderr,
        last_message=last_message,
        events=events,
        duration_s=duration,
        timed_out=timed_out,
        args=tuple(args),
    )


# --------------------------------------------------------------------------------------------------------
# the gateway's own set-up


def install_served_setup(tmp: Path, command: str, api_key: str, *, existing_config: str = "") -> Path:
    """Run the guide's one-line install ``command`` in a shell, as a user would; return its CODEX_HOME.

    ``existing_config`` is the user's config.toml before the install (what the command must keep).
    """
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    codex_home = tmp / "codex_home"
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(existing_config)
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(home), "CODEX_HOME": str(codex_home),
           "LLMGATE_API_KEY": api_key, "NO_PROXY": "*", "no_proxy": "*"}  # fmt: skip
    proc = subprocess.run(
        ["bash", "-c", command], check=False, env=env, cwd=tmp, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if proc.returncode != 0:
        raise AssertionError(f"the install command failed ({proc.returncode}):\n{command}\n{proc.stderr}")
    return codex_home
