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
    """The items of ``source``, and ``HEARTBEAT`` whenever it has been silent for ``interval`` seconds.

    The source is read by a task of its own, so a heartbeat never cancels a read in progress.
    """
    queue: asyncio.Queue[tuple[Any, BaseException | None]] = asyncio.Queue(maxsize=64)

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put((item, None))
        except Exception as exc:  # handed to the consumer, raised there
            await queue.put((_END, exc))
        else:
            await queue.put((_END, None))

    task = asyncio.ensure_future(pump())
    try:
        while True:
            try:
                # Data already waiting needs no timer: arming one per item cost a measurable
                # share of the CPU per token.
                item, error = queue.get_nowait()
            except asyncio.QueueEmpty:
                try:
                    async with asyncio.timeout(interval):
                        item, error = await queue.get()
                except TimeoutError:
                    yield HEARTBEAT
                    continue
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
