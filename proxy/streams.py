"""Splitting byte streams into lines and SSE events; network chunks are not event boundaries."""

from __future__ import annotations

from collections.abc import AsyncIterator


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
