"""The processes a benchmark run starts: the fake upstream, the gateway, the bare reference proxy (and
LiteLLM), and what the kernel says about them (resident memory, CPU time, the listen queue)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-0123"
USER = "bench"
MODEL = "llama3.2"
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(entry))
    return out


def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo.extend(_children(current))
    return pids


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants (Sanic's workers are children)."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/statm") as handle:
                total += int(handle.read().split()[1]) * _PAGE
        except OSError:
            pass
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its live descendants."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / _TICKS


def main_thread_cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid``'s main thread alone (the event loop's, in the gateway)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def listen_backlog(port: int) -> int | None:
    """The listen queue's limit of the socket listening on ``port`` (``ss -ltn``'s Send-Q)."""
    try:
        out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], check=False, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    fields = out.split()
    return int(fields[2]) if len(fields) > 2 and fields[2].isdigit() else None


LISTEN_COUNTERS = ("TcpExtListenOverflows", "TcpExtListenDrops")


def listen_counters() -> dict[str, int]:
    """The kernel's counts of connections dropped because an accept queue was full (whole machine)."""
    try:
        out = subprocess.run(["nstat", "-az", *LISTEN_COUNTERS], check=False, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return {line.split()[0]: int(line.split()[1]) for line in out.splitlines() if line.startswith("TcpExt")}


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    url: str
    log: Path
    keys: dict[str, str] = field(default_factory=dict)
    workdir: Path | None = None
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    ready_path: str = "/healthz"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; its log:\n{self.log.read_text()[-3000:]}")
            try:
                if http_get(self.url + path)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready; its log:\n{self.log.read_text()[-3000:]}")

    def _end(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def restart(self) -> None:
        """A fresh process on the same port, data and keys: memory is measured from a clean start."""
        self._end()
        handle = open(self.log, "ab")  # noqa: SIM115 - lives as long as the process
        self.popen = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
        self.wait_ready(self.ready_path, 60)

    def stop(self) -> None:
        self._end()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _spawn(name: str, argv: list[str], env: dict[str, str], url: str, workdir: Path) -> Process:
    log = workdir / f"{name}.log"
    handle = open(log, "wb")  # noqa: SIM115 - lives as long as the process
    popen = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
    return Process(name, popen, url, log, argv=argv, env=env)


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGATE_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def start_fake(workdir: Path) -> Process:
    port = free_port()
    fake = _spawn(
        "fake", [sys.executable, "-m", "bench.fake_upstream", "--port", str(port)], _base_env(),
        f"http://127.0.0.1:{port}", workdir,
    )
    fake.wait_ready("/_fake/stats", 30)
    return fake


def gateway_env(data_dir: Path, port: int, upstream_url: str, engine: str, workers: int = 1) -> dict[str, str]:
    env = _base_env()
    env.update(
        LLMGATE_DATA_DIR=str(data_dir),
        LLMGATE_PORT=str(port),
        LLMGATE_WORKERS=str(workers),
        LLMGATE_UPSTREAM_URL=upstream_url,
        LLMGATE_UPSTREAM_ENGINE=engine,
        LLMGATE_SECRET_KEY="bench-secret-key-0123456789-abcdefghij",
        LLMGATE_DEFAULT_MODEL=MODEL,
        # Every bench client connects from loopback: up to 1,000 at once in the streams test.
        LLMGATE_MAX_CONNECTIONS_PER_IP="0",
        # One key stands for every client here: the abuse limits stay on, so their cost is in every
        # figure, but far above anything the bench sends (a "no-limits" variant switches them off).
        LLMGATE_REQUESTS_PER_MINUTE_PER_KEY="1000000000",
        LLMGATE_REQUESTS_PER_MINUTE_PER_USER="1000000000",
        LLMGATE_CONCURRENT_STREAMS_PER_KEY="1000000",
        LLMGATE_CONCURRENT_STREAMS_PER_USER="1000000",
        # A Codex turn (about 9,000 tokens) fits: without it the emulator learns the fake model's
        # 4,096-token default after the first request and refuses the Codex-shaped rows (400).
        LLMGATE_UPSTREAM_NUM_CTX="32768",
    )
    return env


HTTPX2_SERVE = "import sys, httpx2; httpx2.alias_httpx(); from proxy.cli import main; sys.exit(main(['serve']))"

# The CLI's commands run in one interpreter (the CLI's own code, called as ``llmgate`` would be):
# four separate ``llmgate`` processes cost seconds of start-up each on a busy machine.
_ACCOUNTS = """
import contextlib, io, json, sys
from proxy.cli import main
user, password, model, *modes = sys.argv[1:]
sys.stdin = io.StringIO(password + "\\n")
if main(["user", "create", user, "--password-stdin"]) or main(["user", "set-model", user, model]):
    sys.exit("llmgate user create / set-model failed")
keys = {}
for mode in modes:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        failed = main(["api-key", "create", user, "--mode", mode, "--name", "bench " + mode])
    if not failed:
        keys[mode] = out.getvalue().strip().splitlines()[-1]
print(json.dumps(keys))
"""


def _accounts(env: dict[str, str], modes: list[str]) -> dict[str, str]:
    """A user and one API key per mode the gateway offers (a mode it lacks gets no key)."""
    made = subprocess.run(
        [sys.executable, "-c", _ACCOUNTS, USER, PASSWORD, MODEL, *modes], env=env, cwd=ROOT,
        check=False, capture_output=True, text=True, timeout=120,
    )
    if made.returncode:
        raise RuntimeError(f"setting up the bench user failed: {made.stderr[-2000:]}")
    keys: dict[str, str] = json.loads(made.stdout.strip().splitlines()[-1])
    for mode in modes:
        if mode not in keys:
            print(f"  ({mode} mode is not available on this gateway)", flush=True)
    return keys


def start_gateway(
    upstream_url: str, engine: str, modes: list[str], workers: int = 1, extra_env: dict[str, str] | None = None
) -> Process:
    """``llmgate serve`` on a fresh SQLite in a temp dir, with a user and one key per mode."""
    workdir = Path(tempfile.mkdtemp(prefix=f"llmgate-bench-{engine}-"))
    port = free_port()
    # "httpx2" is httpx's own engine with the httpx2 fork standing in for httpx process-wide.
    env = gateway_env(workdir / "data", port, upstream_url, "httpx" if engine == "httpx2" else engine, workers)
    env.update(extra_env or {})
    keys = _accounts(env, modes)
    argv = [sys.executable, "-m", "proxy.cli", "serve"]
    if engine == "httpx2":
        argv = [sys.executable, "-c", HTTPX2_SERVE]
    gateway = _spawn(f"gateway-{engine}-{workers}w-{port}", argv, env, f"http://127.0.0.1:{port}", workdir)
    gateway.keys, gateway.workdir = keys, workdir
    gateway.wait_ready("/healthz", 60)
    return gateway


def start_bare_proxy(upstream_url: str) -> Process:
    """The reference row: ``bench.bare_proxy``, one worker, Sanic's default listen backlog."""
    workdir = Path(tempfile.mkdtemp(prefix="bare-proxy-bench-"))
    port = free_port()
    argv = [sys.executable, "-m", "bench.bare_proxy", "--upstream", upstream_url, "--port", str(port)]
    process = _spawn("bare-proxy", argv, _base_env(), f"http://127.0.0.1:{port}", workdir)
    process.workdir = workdir
    process.wait_ready("/healthz", 60)
    return process


LITELLM_CONFIG = """model_list:
  - model_name: {model}
    litellm_params:
      model: openai/{model}
      api_base: {upstream}/v1
      api_key: unused
general_settings:
  master_key: {key}
litellm_settings:
  drop_params: true
"""


def find_litellm() -> str | None:
    """The ``litellm`` proxy command: $LITELLM, on PATH, or beside this interpreter."""
    candidates = [os.environ.get("LITELLM"), shutil.which("litellm"), str(Path(sys.executable).with_name("litellm"))]
    return next((c for c in candidates if c and Path(c).is_file()), None)


def start_litellm(command: str, upstream_url: str) -> Process:
    """LiteLLM's proxy with one worker, passing the bypass-shaped request to the fake's /v1."""
    workdir = Path(tempfile.mkdtemp(prefix="litellm-bench-"))
    key = "sk-bench-litellm"
    config = workdir / "config.yaml"
    config.write_text(LITELLM_CONFIG.format(model=MODEL, upstream=upstream_url, key=key))
    port = free_port()
    env = _base_env()
    env.update(LITELLM_LOG="ERROR", LITELLM_TELEMETRY="False", DISABLE_SCHEMA_UPDATE="true")
    process = _spawn(
        "litellm", [command, "--config", str(config), "--port", str(port), "--host", "127.0.0.1", "--num_workers", "1"],
        env, f"http://127.0.0.1:{port}", workdir,
    )
    process.keys, process.workdir, process.ready_path = {"bypass": key}, workdir, "/health/liveliness"
    process.wait_ready("/health/liveliness", 180)
    return process


def fake_stats(fake: Process) -> dict[str, int]:
    return json.loads(http_get(fake.url + "/_fake/stats")[1])
