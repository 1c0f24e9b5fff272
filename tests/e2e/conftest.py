"""Fixtures for end-to-end tests that drive real clients: the Codex CLI and the Vercel AI SDK."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.codex_cli import CODEX_VERSIONS, CodexUnavailable, ensure_codex
from tests.e2e.vercel_ai_sdk import VercelAIUnavailable, ensure_vercel_ai


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: end-to-end test running real clients (Codex CLI, Vercel AI SDK via npm); slow"
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


@pytest.fixture(scope="session")
def vercel_ai_dir() -> Path:
    """Folder with the pinned Vercel AI SDK installed; installs it on first use. Skips if node/npm is
    missing (fails in CI)."""
    try:
        return ensure_vercel_ai()
    except VercelAIUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Vercel AI SDK e2e tests: {exc}")
        pytest.skip(str(exc))
