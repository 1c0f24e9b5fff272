"""A lean HTTP/1.1 load client on raw asyncio (uvloop when present).

General-purpose clients (aiohttp, httpx) spend more CPU per request than the fake upstream does,
so against the fake alone they, not the server, would set the pace. This client sends one
prebuilt request per connection at a time (keep-alive, no pipelining) and parses only what it
must: the status, Content-Length or chunked framing, and the end of the body.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

try:
    import uvloop

    new_loop = uvloop.new_event_loop
except ImportError:  # pragma: no cover
    new_loop = asyncio.new_event_loop

_TERMINATOR = b"0\r\n\r\n"


@dataclass(slots=True)
class Target:
    """One prebuilt request: method, URL, JSON body, bearer key."""

    name: str
    url: str
    body: bytes
    key: str | None = None
    raw: bytes = b""
    host: str = ""
    port: int = 0

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        auth = f"Authorization: Bearer {self.key}\r\n" if self.key else ""
        head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{auth}"
            f"Content-Type: application/json\r\nContent-Length: {len(self.body)}\r\n\r\n"
        )
        self.raw = head.encode() + self.body


@dataclass(slots=True)
class Result:
    status: int
    total: float  # seconds from send to the last byte
    first_byte: float  # seconds from send to the first byte of the response
    size: int
    body: bytes = b""


class _Conn(asyncio.Protocol):
    """One keep-alive connection; ``request`` resolves when the whole response is in."""

    def __init__(self, keep_body: bool) -> None:
        self.keep_body = keep_body
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[Result] | None = None
        self.sent = 0.0
        self.first = 0.0
        self.head_end = -1
        self.length = -1  # Content-Length, or -2: chunked
        self.status = 0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    def request(self, raw: bytes) -> asyncio.Future[Result]:
        assert self.transport is not None
        self.buf.clear()
        self.head_end = -1
        self.first = 0.0
        self.waiter = asyncio.get_running_loop().create_future()
        self.sent = time.perf_counter()
        self.transport.write(raw)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        if not self.first:
            self.first = time.perf_counter()
        self.buf += data
        if self.head_end < 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self.head_end = end + 4
            head = bytes(self.buf[:end]).lower()
            self.status = int(head[9:12])
            i = head.find(b"\r\ncontent-length:")
            if i >= 0:
                j = head.find(b"\r\n", i + 2)
                self.length = int(head[i + 17 : j if j > 0 else len(head)])
            elif b"transfer-encoding: chunked" in head:
                self.length = -2
            else:
                self.length = -3  # until close
        body_len = len(self.buf) - self.head_end
        if self.length >= 0:
            done = body_len >= self.length
        elif self.length == -2:
            done = self.buf.endswith(_TERMINATOR) and (body_len == 5 or self.buf.endswith(b"\r\n" + _TERMINATOR))
        else:
            done = False
        if done and self.waiter is not None and not self.waiter.done():
            now = time.perf_counter()
            body = bytes(self.buf[self.head_end :]) if self.keep_body else b""
            self.waiter.set_result(Result(self.status, now - self.sent, self.first - self.sent, body_len, body))


async def connect(target: Target, keep_body: bool = False) -> _Conn:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(lambda: _Conn(keep_body), target.host, target.port)
    return conn


async def sequential(target: Target, count: int, conn: _Conn | None = None) -> list[float]:
    """Latencies (seconds) of ``count`` requests one after another on one connection."""
    own = conn is None
    conn = conn or await connect(target)
    out = []
    try:
        for _ in range(count):
            result = await conn.request(target.raw)
            if result.status != 200:
                raise RuntimeError(f"{target.name}: status {result.status}")
            out.append(result.total)
    finally:
        if own and conn.transport is not None:
            conn.transport.close()
    return out


@dataclass
class Throughput:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def closed_loop(target: Target, concurrency: int, seconds: float) -> Throughput:
    """``concurrency`` connections each sending requests back to back for ``seconds``."""
    conns = [await connect(target) for _ in range(concurrency)]
    stats = Throughput()
    deadline = 0.0

    async def worker(conn: _Conn) -> None:
        while time.perf_counter() < deadline:
            try:
                result = await conn.request(target.raw)
            except ConnectionError:
                stats.errors += 1
                return
            if result.status == 200:
                stats.requests += 1
            else:
                stats.errors += 1

    # Warm the connections (and the server's per-connection state) before the clock starts.
    await asyncio.gather(*(conn.request(target.raw) for conn in conns))
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(worker(conn) for conn in conns))
    stats.seconds = time.perf_counter() - start
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    return stats


@dataclass
class StreamRun:
    streams: int
    seconds: float  # wall time from the first send to the last stream's end
    first_bytes: list[float]
    bytes_total: int
    complete: int  # streams whose body ended properly with status 200 and the last token
    errors: list[str]


async def streams(target: Target, count: int, last_token: bytes, timeout: float = 120) -> StreamRun:
    """``count`` concurrent streaming requests, each on its own new connection."""
    conns = await asyncio.gather(*(connect(target, keep_body=True) for _ in range(count)))
    start = time.perf_counter()
    waiters = [conn.request(target.raw) for conn in conns]
    _, pending = await asyncio.wait(waiters, timeout=timeout)
    seconds = time.perf_counter() - start
    errors: list[str] = []
    firsts, total, complete = [], 0, 0
    for waiter in waiters:
        if waiter in pending:
            waiter.cancel()
            errors.append("timeout")
            continue
        if waiter.exception() is not None:
            errors.append(str(waiter.exception()))
            continue
        result = waiter.result()
        firsts.append(result.first_byte)
        total += result.size
        if result.status == 200 and last_token in result.body:
            complete += 1
        else:
            errors.append(f"status {result.status}: {result.body[:200]!r}")
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    return StreamRun(count, seconds, firsts, total, complete, errors)


async def open_streams(target: Target, count: int, timeout: float = 60) -> tuple[list[_Conn], int, int]:
    """Open ``count`` streams at once, as a crowd of clients would (every connect in flight together),
    and wait until each has its first bytes or was closed.

    Returns the connections, still open, the number that started (status 200 and first bytes) and
    the number the server closed or reset before any byte arrived.
    """

    async def one() -> _Conn | None:
        try:
            return await connect(target)
        except OSError:
            return None

    opened = await asyncio.gather(*(one() for _ in range(count)))
    conns = [conn for conn in opened if conn is not None]
    for conn in conns:
        conn.request(target.raw).add_done_callback(_ignore)
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if all(conn.first or conn.closed for conn in conns):
            break
        await asyncio.sleep(0.1)
    started = sum(1 for conn in conns if conn.first and conn.status == 200)
    lost = sum(1 for conn in conns if conn.closed and not conn.first) + count - len(conns)
    return conns, started, lost


def _ignore(future: asyncio.Future[Result]) -> None:
    if not future.cancelled():
        future.exception()  # read, so asyncio does not log a lost connection as never retrieved


def abort_all(conns: list[_Conn]) -> None:
    """Clients vanish: reset every connection without a goodbye."""
    for conn in conns:
        if conn.waiter is not None and not conn.waiter.done():
            conn.waiter.cancel()
        if conn.transport is not None:
            conn.transport.abort()
