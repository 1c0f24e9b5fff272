"""The real Codex CLI told the truth about the context window: a prompt that cannot fit is refused.

Its own module: it needs a gateway with a small ``num_ctx``, and the module-wide gateway of
test_codex_gateway.py must not share the process's database connections with it.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.codex_cli import run_codex_exec, write_codex_home
from tests.fake_ollama import FakeOllama
from tests.support.accounts import make_key

pytestmark = pytest.mark.e2e


def test_codex_is_told_when_its_prompt_cannot_fit(
    codex_bin: Path, tmp_path: Path, start_gateway, fake: FakeOllama
) -> None:
    # A 2k window: Codex's first request (tools and instructions) is several thousand tokens, so the
    # gateway refuses it rather than let Ollama cut it from the front.
    gateway = start_gateway(env={"LLMGATE_UPSTREAM_NUM_CTX": "2048"})
    key = make_key(gateway, mode="emulator")
    workdir = tmp_path / "work"
    workdir.mkdir()
    catalog = httpx.get(gateway.url + "/v1/codex/catalog.json", timeout=30).json()
    assert catalog["models"][0]["context_window"] == 2048
    codex_home = write_codex_home(tmp_path, base_url=gateway.url + "/v1", catalog=catalog)
    result = run_codex_exec(codex_bin, codex_home, workdir, "say hi", key, timeout=60, json_events=True)
    info = result.describe()
    assert result.returncode != 0, info
    # Codex recognised context_length_exceeded ("ran out of room in the model's context window").
    failed = [e for e in result.events if e.get("type") == "turn.failed"]
    assert failed and "context window" in failed[0]["error"]["message"], info
    assert fake.chat_requests() == [], info  # nothing reached the model to be truncated
