"""The private directory where the worker processes of one instance keep their metric values.

``prometheus_client``'s multiprocess mode: each worker writes its counters to memory-mapped files in
``PROMETHEUS_MULTIPROC_DIR`` and a scrape adds them all up. The main process makes a fresh directory
for each run under ``<data_dir>/metrics`` (owner-only) before the workers start, so no figure of an
earlier run is counted again, and holds a lock on it while it runs: instances that share a data
directory each get their own, and a directory nobody holds (its instance is gone) is removed at the
next start.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class SharedMetricsDir:
    """Created in the main process; workers find it through the environment they inherit."""

    def __init__(self, data_dir: Path) -> None:
        root = data_dir / "metrics"
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        root.chmod(0o700)
        _remove_abandoned(root)
        self.path = Path(tempfile.mkdtemp(prefix="run-", dir=root))  # mode 0700
        self._lock = os.open(self.path, os.O_RDONLY)  # not inherited by the workers
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.environ[MULTIPROC_ENV] = str(self.path)

    def close(self) -> None:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._lock)


def _remove_abandoned(root: Path) -> None:
    for entry in root.iterdir():
        try:
            fd = os.open(entry, os.O_RDONLY)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # another running instance's
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        finally:
            os.close(fd)
