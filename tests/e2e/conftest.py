"""Fixtures for end-to-end tests that drive the real Codex CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.codex_cli import CODEX_VERSIONS, CodexUnavailable, ensure_codex


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: end-to-end test running real client binaries (Codex CLI via npm); slow"
    )


@pytest.fixture(scope="session", params=CODEX_VERSIONS, ids=[f"codex-{v}" for v in CODEX_VERSIONS])
def codex_bin(request: pytest.FixtureRequest) -> Path:
    """The Codex launcher, once per supported version; installs it on first use.

    Skips if npm is missing (fails in CI).
    """
    try:
        return ensure_codex(request.param)
    except CodexUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Codex e2e tests: {exc}")
        pytest.skip(str(exc))
