"""Splitting byte streams into lines and SSE events; network chunks are not event boundaries."""

from __future__ import annotations

from collections.abc import AsyncIterator


async def iter_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Complete lines (without the newline), the last one even when unterminated. Blank lines skipped."""
    pending = b""
    async for chunk in chunks:
        if pending:
            chunk = pending + chunk
        lines = chunk.split(b"\n")
        pending = lines.pop()
        for line in lines:
            if line.strip():
                yield line
    if pending.strip():
        yield pending


def sse_data(payload: bytes, event: str | None = None) -> bytes:
    head = b"event: " + event.encode() + b"\n" if event else b""
    return head + b"data: " + payload + b"\n\n"
