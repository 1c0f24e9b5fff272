"""Debian's nginx as a test's load balancer, running the shipped configuration.

``deploy/nginx/llmgate.conf.template`` is rendered the way the nginx image does it (``${NAME}``
replaced by a value, nginx's own ``$variables`` untouched) and included in a minimal main
configuration whose paths all point into the test's directory. nginx runs in the foreground as one
process (``master_process off``), so it needs no privileges and is stopped like any subprocess.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.support.gateway import free_port

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "nginx" / "llmgate.conf.template"
NGINX_SKIP_REASON = "the deployment tests need Debian's nginx (apt-get install nginx; .ci/run installs it)"


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def render_template(text: str, values: dict[str, str]) -> str:
    """``${NAME}`` for each given name, like envsubst with a list of defined variables."""
    rendered = re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)
    left = re.findall(r"\$\{\w+\}", rendered)
    assert not left, f"no value for {left} in {TEMPLATE.name}"
    return rendered


class Nginx:
    def __init__(self, directory: Path, upstream_ports: list[int]) -> None:
        binary = nginx_binary()
        assert binary, NGINX_SKIP_REASON
        self.port = free_port()
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        servers = " ".join(f"server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;" for port in upstream_ports)
        site = render_template(TEMPLATE.read_text(), {"NGINX_PORT": f"127.0.0.1:{self.port}", "LLMGATE_UPSTREAMS": servers})
        (directory / "llmgate.conf").write_text(site)
        temp_paths = "\n".join(
            f"    {kind}_temp_path {directory / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (directory / "nginx.conf").write_text(
            f"pid {directory / 'nginx.pid'};\n"
            f"error_log {directory / 'error.log'} warn;\n"
            "events { worker_connections 512; }\n"
            "http {\n"
            "    access_log off;\n"
            f"{temp_paths}\n"
            f"    include {directory / 'llmgate.conf'};\n"
            "}\n"
        )
        self.log = directory / "error.log"
        argv = [binary, "-p", str(directory), "-c", str(directory / "nginx.conf"), "-e", str(self.log),
                "-g", "daemon off; master_process off;"]  # fmt: skip
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=(directory / "stderr.log").open("wb"))
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"nginx exited: {self.errors()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"nginx did not listen: {self.errors()}"
                time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def errors(self) -> str:
        texts = [p.read_text(errors="replace") for p in (self.directory / "stderr.log", self.log) if p.exists()]
        return "\n".join(texts)[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
