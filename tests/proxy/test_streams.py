"""Network chunks are not line boundaries: lines are reassembled whatever the split."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from proxy.streams import iter_line_batches

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
