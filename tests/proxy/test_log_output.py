"""The gateway's log handler: lines of one event-loop turn go out in one write, none lost or reordered."""

from __future__ import annotations

import asyncio
import io
import logging

from proxy.log_output import LoopBatchedHandler


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def logger_to(stream: CountingStream, name: str) -> logging.Logger:
    log = logging.getLogger(name)
    log.handlers[:] = [LoopBatchedHandler(stream)]
    log.propagate = False
    log.setLevel(logging.INFO)
    return log


async def test_a_turn_of_the_loop_is_one_write_in_order() -> None:
    stream = CountingStream()
    log = logger_to(stream, "llmgate.test.batched")
    for number in range(50):
        log.info("line %d", number)
    assert stream.getvalue() == ""  # kept until the turn ends
    await asyncio.sleep(0)
    assert stream.getvalue() == "".join(f"line {n}\n" for n in range(50))
    assert stream.writes == 1
    log.info("next turn")
    await asyncio.sleep(0)
    assert stream.getvalue().endswith("line 49\nnext turn\n") and stream.writes == 2


def test_off_the_loop_a_line_is_written_at_once() -> None:
    stream = CountingStream()
    log = logger_to(stream, "llmgate.test.unbatched")
    log.warning("starting")
    assert stream.getvalue() == "starting\n"


async def test_logging_shutdown_writes_what_is_kept() -> None:
    stream = CountingStream()
    log = logger_to(stream, "llmgate.test.shutdown")
    log.info("last words")
    log.handlers[0].flush()  # what logging.shutdown does at exit
    assert stream.getvalue() == "last words\n"
