"""Minimal HTTP/1.1 server protocol on raw asyncio: just enough for Ollama clients, and fast.

Requests: request line, headers, Content-Length or chunked bodies, keep-alive, pipelining
(requests on one connection are answered strictly in order). Responses: Content-Length, or
chunked streams written one HTTP chunk per NDJSON line / SSE event like Go's http.Flusher.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Protocol

MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024

_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_date_cache: list[Any] = [-1, b""]


def _date() -> bytes:
    sec = int(time.time())
    if _date_cache[0] != sec:
        _date_cache[0], _date_cache[1] = sec, formatdate(sec, usegmt=True).encode()
    return _date_cache[1]


_prefixes: dict[tuple[int, str, bool], bytes] = {}


def _prefix(status: int, content_type: str, close: bool) -> bytes:
    prefix = _prefixes[(status, content_type, close)] = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%s" % (
        status,
        _REASONS.get(status, b"Unknown"),
        content_type.encode(),
        b"Connection: close\r\n" if close else b"",
    )
    return prefix


def _head(status: int, content_type: str, extra: bytes, close: bool) -> bytes:
    prefix = _prefixes.get((status, content_type, close)) or _prefix(status, content_type, close)
    return b"%sDate: %s\r\n%s\r\n" % (prefix, _date(), extra)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def frame(data: bytes) -> bytes:
    """One HTTP chunk."""
    return b"%x\r\n%b\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


def _find_header(text: str, low: str, name: str) -> str | None:
    """Value of header `name` (lower case) in CRLF-prefixed header lines; first one wins."""
    i = low.find("\r\n" + name + ":")
    if i < 0:
        return None
    i += len(name) + 3
    j = low.find("\r\n", i)
    return text[i : j if j >= 0 else len(text)].strip()


class Request:
    """A parsed request. Headers are looked up lazily: building the full dict costs more
    than answering, so the hot path only reads the few it needs (see `header`)."""

    __slots__ = ("_headers", "_low", "_text", "body", "keep_alive", "method", "path", "query", "version")

    def __init__(
        self, method: str, target: str, version: str, text: str, low: str, body: bytes, keep_alive: bool
    ) -> None:
        self.method = method
        self.path, _, self.query = target.partition("?")
        self.version = version
        self.body = body
        self.keep_alive = keep_alive
        self._text = text  # header lines, each preceded by CRLF
        self._low = low
        self._headers: dict[str, str] | None = None

    def header(self, name: str) -> str | None:
        """Value of header `name` (lower case); first one wins."""
        return _find_header(self._text, self._low, name)

    @property
    def headers(self) -> dict[str, str]:
        """All headers, names in lower case (first one wins, like `header`)."""
        if self._headers is None:
            headers: dict[str, str] = {}
            for line in self._text.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                headers.setdefault(name.strip().lower(), value.strip())
            self._headers = headers
        return self._headers


class Handler(Protocol):
    def __call__(self, conn: Connection, req: Request) -> bool:
        """Answer `req`; return True if the answer continues asynchronously (conn.finish() ends it)."""
        ...


class BadRequest(Exception):
    def __init__(self, status: int = 400) -> None:
        self.status = status


def _parse_chunked(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    """Decode a chunked body starting at buf[pos]; None while incomplete."""
    out = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size_text = bytes(buf[pos:eol]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadRequest() from None
        pos = eol + 2
        if size == 0:
            # Skip trailers up to the empty line.
            while True:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    return None
                if eol == pos:
                    return bytes(out), eol + 2
                pos = eol + 2
        if len(buf) < pos + size + 2:
            return None
        out += buf[pos : pos + size]
        if len(out) > MAX_BODY:
            raise BadRequest(413)
        pos += size + 2


class Connection(asyncio.Protocol):
    """One client connection. Owned by the event loop thread."""

    def __init__(
        self, handler: Handler, on_open: Callable[[Connection], None], on_close: Callable[[Connection], None]
    ) -> None:
        self._handler = handler
        self._on_open = on_open
        self._on_close = on_close
        self._buf = bytearray()
        self._busy = False
        self._continue_sent = False
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._closed_fut: asyncio.Future[None] | None = None
        self._drain_fut: asyncio.Future[None] | None = None
        self._paused = False

    # ------------------------------------------------------------ asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._on_open(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._closed_fut is not None and not self._closed_fut.done():
            self._closed_fut.set_result(None)
        if self._drain_fut is not None and not self._drain_fut.done():
            self._drain_fut.set_result(None)
        self._on_close(self)

    def eof_received(self) -> bool | None:
        return None  # peer half-closed: close our side too, which makes disconnects visible at once

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drain_fut is not None and not self._drain_fut.done():
            self._drain_fut.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if not self._busy:
            self._process()

    # ------------------------------------------------------------ request parsing

    def _process(self) -> None:
        buf = self._buf
        while buf and not self._busy and not self.gone:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    self._fail(431)
                return
            try:
                req, consumed = self._parse(buf, end)
            except BadRequest as e:
                self._fail(e.status)
                return
            if req is None:
                return
            del buf[:consumed]
            self._continue_sent = False
            try:
                went_async = self._handler(self, req)
            except Exception:  # a bug in the fake: make it loud, keep serving
                traceback.print_exc()
                self._fail(500)
                return
            if went_async:
                self._busy = True
                return
            if not req.keep_alive:
                self.close()
                return

    def _parse(self, buf: bytearray, end: int) -> tuple[Request | None, int]:
        head = buf[:end].decode("latin-1")
        eol = head.find("\r\n")
        if eol < 0:
            eol = len(head)
        try:
            method, target, version = head[:eol].split(" ", 2)
        except ValueError:
            raise BadRequest() from None
        if version != "HTTP/1.1" and version != "HTTP/1.0":
            raise BadRequest(505)
        text = head[eol:]
        low = text.lower()  # same length: latin-1 lower-casing maps one char to one char

        if "\r\nconnection:" in low:
            conn = _find_header(text, low, "connection").lower()  # type: ignore[union-attr]
            keep_alive = "keep-alive" in conn if version == "HTTP/1.0" else "close" not in conn
        else:
            keep_alive = version == "HTTP/1.1"

        start = end + 4
        if "\r\ntransfer-encoding:" in low and "chunked" in (
            _find_header(text, low, "transfer-encoding") or ""
        ):
            self._maybe_continue(text, low)
            parsed = _parse_chunked(buf, start)
            if parsed is None:
                return None, 0
            body, consumed = parsed
        else:
            i = low.find("\r\ncontent-length:")
            if i < 0:
                length = 0
            else:
                j = low.find("\r\n", i + 17)
                try:
                    length = int(low[i + 17 : j if j >= 0 else len(low)])
                except ValueError:
                    raise BadRequest() from None
                if length < 0:
                    raise BadRequest()
                if length > MAX_BODY:
                    raise BadRequest(413)
            consumed = start + length
            if len(buf) < consumed:
                self._maybe_continue(text, low)
                return None, 0
            body = bytes(buf[start:consumed]) if length else b""
        return Request(method, target, version, text, low, body, keep_alive), consumed

    def _maybe_continue(self, text: str, low: str) -> None:
        if not self._continue_sent and "\r\nexpect:" in low and "100-continue" in low:
            self._continue_sent = True
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _fail(self, status: int) -> None:
        body = (f"{status} {_REASONS.get(status, b'').decode()}").encode()
        self.write(_head(status, "text/plain", b"Content-Length: %d\r\n" % len(body), True) + body)
        self.close()

    # ------------------------------------------------------------ writing

    @property
    def gone(self) -> bool:
        """The connection is closed or closing: nothing more can be written."""
        return self.closed or self.transport is None or self.transport.is_closing()

    def write(self, data: bytes) -> None:
        if not self.gone:
            self.transport.write(data)  # type: ignore[union-attr]

    def send(
        self, status: int, content_type: str, body: bytes, req: Request, head_only: bool = False
    ) -> None:
        """A whole response with Content-Length, in one write (the hot path: kept flat)."""
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            return
        key = (status, content_type, not req.keep_alive)
        prefix = _prefixes.get(key) or _prefix(*key)
        sec = int(time.time())
        if _date_cache[0] != sec:
            _date()
        head = b"%sDate: %s\r\nContent-Length: %d\r\n\r\n" % (prefix, _date_cache[1], len(body))
        transport.write(head if head_only else head + body)

    def start_stream(self, status: int, content_type: str, req: Request) -> bytes:
        """Head of a chunked response (returned so callers can batch it with the first chunks)."""
        return _head(status, content_type, b"Transfer-Encoding: chunked\r\n", not req.keep_alive)

    async def drain(self) -> None:
        if self._paused and not self.closed:
            loop = asyncio.get_running_loop()
            self._drain_fut = loop.create_future()
            await self._drain_fut

    @property
    def paused(self) -> bool:
        return self._paused

    async def wait_closed(self, timeout: float | None) -> bool:
        """Sleep up to `timeout` seconds (forever if None); True if the client went away meanwhile.

        One future plus one timer: much cheaper than wait_for(shield(...)) per stream chunk."""
        if self.closed:
            return True
        loop = asyncio.get_running_loop()
        waiter = self._closed_fut = loop.create_future()
        timer = loop.call_later(timeout, _wake, waiter) if timeout is not None else None
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._closed_fut = None
        return self.closed

    def finish(self, keep_alive: bool) -> None:
        """End an asynchronous answer; go on with pipelined requests."""
        self._busy = False
        if self.gone:
            return
        if not keep_alive:
            self.close()
            return
        if self._buf:
            self._process()

    def close(self) -> None:
        if not self.gone:
            self.transport.close()  # type: ignore[union-attr]

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()
