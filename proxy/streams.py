"""Splitting byte streams into lines and SSE events; network chunks are not event boundaries."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

HEARTBEAT = object()
_END = object()


async def iter_line_batches(chunks: AsyncIterator[bytes]) -> AsyncIterator[list[bytes]]:
    """The complete lines of each network chunk, together: a consumer that translates lines can
    then answer with one write per chunk instead of one per line. Blank lines skipped."""
    pending = b""
    async for chunk in chunks:
        if pending:
            chunk = pending + chunk
        lines = chunk.split(b"\n")
        pending = lines.pop()
        batch = [line for line in lines if line.strip()]
        if batch:
            yield batch
    if pending.strip():
        yield [pending]


def sse_data(payload: bytes, event: str | None = None) -> bytes:
    head = b"event: " + event.encode() + b"\n" if event else b""
    return head + b"data: " + payload + b"\n\n"


async def with_heartbeats(source: AsyncIterator[Any], interval: float) -> AsyncIterator[Any]:
    """The items of ``source``, and ``HEARTBEAT`` whenever the consumer has waited ``interval`` seconds.

    Silence is counted from the moment the consumer asks for its next item, i.e. from its last
    write. The source is read by a task of its own, so a heartbeat never cancels a read in progress.
    One timer per stream checks for silence and re-arms itself for the next moment one could be due:
    while data flows, an item costs a clock read, not a timer armed and cancelled.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[Any, BaseException | None]] = asyncio.Queue(maxsize=64)
    asked_at = loop.time()
    waiting = False
    slack = min(0.01, interval / 10)  # a timer may fire a clock tick early

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put((item, None))
        except Exception as exc:  # handed to the consumer, raised there
            await queue.put((_END, exc))
        else:
            await queue.put((_END, None))

    def watch() -> None:
        nonlocal timer
        now = loop.time()
        due = asked_at + interval
        if waiting and now + slack >= due and queue.empty():
            queue.put_nowait((HEARTBEAT, None))
            due = now + interval
        timer = loop.call_at(due if due > now + slack else now + interval, watch)

    task = asyncio.ensure_future(pump())
    timer = loop.call_at(asked_at + interval, watch)
    try:
        while True:
            asked_at = loop.time()
            try:
                item, error = queue.get_nowait()
            except asyncio.QueueEmpty:
                waiting = True
                try:
                    item, error = await queue.get()
                finally:
                    waiting = False
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        timer.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()


class Provisional(bytes):
    """Bytes for the client that do not commit the answer: a keepalive, a heartbeat event, an
    opening the next upstream candidate can continue. Until a mode's stream yields plain bytes,
    the core may still fail over to another candidate. Wrappers that pass chunks on unchanged keep
    the mark; a chunk they rebuild counts as output."""

    __slots__ = ()
