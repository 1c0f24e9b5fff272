"""Where the gateway's log lines go: standard error, written once per turn of the event loop.

Under load every request logs a line (``plugins/metrics.py``); written one by one, each line was
a write system call of its own. The handler keeps the lines formatted during one turn of the loop
and writes them together when the turn ends. Off the loop's thread (start-up, other threads) a
line is written at once, and ``logging.shutdown`` writes whatever is still kept.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging() -> None:
    """The gateway's logging, in the main process and in every worker process (which starts
    afresh: without this, a worker's INFO lines, the request log among them, went nowhere)."""
    logging.basicConfig(level=logging.INFO, format=FORMAT, handlers=[LoopBatchedHandler()])
    # One line per control-plane call would say nothing new.
    logging.getLogger("httpx").setLevel(logging.WARNING)


class LoopBatchedHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._scheduled = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._pending.append(self.format(record) + self.terminator)
        except Exception:  # noqa: BLE001 -- logging's own contract: report, never raise
            self.handleError(record)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self.flush)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._scheduled = False
            if self._pending:
                text = "".join(self._pending)
                self._pending.clear()
                self.stream.write(text)
            self.stream.flush()
