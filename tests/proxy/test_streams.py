"""Network chunks are not line boundaries: lines are reassembled whatever the split. Heartbeats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from proxy.streams import HEARTBEAT, iter_line_batches, with_heartbeats

LINES = [b'{"a":1}', b'{"b":"two words"}', b'{"c":[3]}']


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("size", [1, 2, 5, 7, 1000])
@pytest.mark.parametrize("ending", [b"\n", b""])  # the last line may come unterminated
async def test_lines_survive_any_split(size: int, ending: bytes) -> None:
    data = b"\n".join(LINES) + ending
    batches = [batch async for batch in iter_line_batches(chunks(data, size))]
    assert [line for batch in batches for line in batch] == LINES
    assert all(batches)  # no empty batches: each one becomes a write


async def test_one_chunk_is_one_batch_and_blank_lines_are_skipped() -> None:
    data = b'{"a":1}\n\n{"b":2}\n  \n'
    assert [batch async for batch in iter_line_batches(chunks(data, 1000))] == [[b'{"a":1}', b'{"b":2}']]


async def test_heartbeats_fill_a_silence_and_only_a_silence() -> None:
    async def source() -> AsyncIterator[bytes]:
        for _ in range(200):
            yield b"busy"  # data waiting all the time: no heartbeat between these
        await asyncio.sleep(0.5)
        yield b"late"

    items = [item async for item in with_heartbeats(source(), 0.1)]
    assert items[:200] == [b"busy"] * 200 and items[-1] == b"late"
    assert HEARTBEAT in items[200:-1] and set(items[200:-1]) == {HEARTBEAT}


async def test_a_source_error_reaches_the_consumer_after_heartbeats() -> None:
    async def source() -> AsyncIterator[bytes]:
        yield b"one"
        await asyncio.sleep(0.5)
        raise ConnectionError("gone")

    seen: list[object] = []
    with pytest.raises(ConnectionError):
        async for item in with_heartbeats(source(), 0.05):
            seen.append(item)
    assert seen[0] == b"one" and set(seen[1:]) == {HEARTBEAT}
