"""The directory where an instance's workers keep their metric values."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from proxy.metrics_dir import MULTIPROC_ENV, SharedMetricsDir


def test_a_fresh_private_directory_per_run_and_leftovers_removed(tmp_path: Path) -> None:
    root = tmp_path / "data" / "metrics"
    abandoned = root / "run-crashed"
    abandoned.mkdir(parents=True)
    (abandoned / "counter_123.db").write_bytes(b"old figures")
    before = os.environ.get(MULTIPROC_ENV)
    first = SharedMetricsDir(tmp_path / "data")
    try:
        assert not abandoned.exists()  # nobody held it: an earlier run's counts must not come back
        assert os.environ[MULTIPROC_ENV] == str(first.path) and first.path.parent == root
        assert stat.S_IMODE(root.stat().st_mode) == 0o700 and stat.S_IMODE(first.path.stat().st_mode) == 0o700
        # A second instance on the same data directory leaves the running one's directory alone.
        second = SharedMetricsDir(tmp_path / "data")
        assert first.path.exists() and second.path != first.path
        second.close()
        assert not second.path.exists()
    finally:
        first.close()
        if before is not None:
            os.environ[MULTIPROC_ENV] = before
    assert not first.path.exists()
