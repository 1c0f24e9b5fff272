"""Connections nobody can hold open: a total deadline for the request head, a cap per address.

Sanic restarts its request timer with every byte received, so a client trickling a head one
byte at a time would keep a connection (and a slot in the worker) for as long as it likes.
``DeadlineHttp`` gives the whole head ``REQUEST_TIMEOUT`` from the moment it starts (bodies
have their own total deadline, ``proxy.app.BoundedRequest``). ``GatewayProtocol`` also caps
the connections one peer address may hold open on this worker; the next is answered 503 and
closed before anything of it is read.

The cap is per worker process and counts the socket's peer: behind a reverse proxy every
connection comes from the proxy, so the app turns it off there (see ``create_app``) and the
proxy caps its own clients.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from sanic.exceptions import RequestTimeout
from sanic.http import Http
from sanic.server.protocols.http_protocol import HttpProtocol

HEAD_END = b"\r\n\r\n"
RETRY_AFTER_SECONDS = 5


def _too_many_connections_answer() -> bytes:
    body = orjson.dumps({"error": {
        "message": "Too many open connections from your address; close some and try again.",
        "type": "server_error", "code": "too_many_connections", "param": None,
    }})  # fmt: skip
    head = (
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        f"retry-after: {RETRY_AFTER_SECONDS}\r\nconnection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


TOO_MANY_CONNECTIONS = _too_many_connections_answer()


class DeadlineHttp(Http):
    """Sanic's HTTP/1.1 handler with a total deadline on receiving the request head."""

    __slots__ = ()

    async def http1_request_header(self) -> None:
        if HEAD_END in self.recv_buffer:  # the usual case, the head came in one piece: no timer
            return await super().http1_request_header()
        try:
            # asyncio.timeout, not wait_for: no extra task per request.
            async with asyncio.timeout(self.protocol.request_timeout):
                await super().http1_request_header()
        except TimeoutError:
            self.keep_alive = False
            raise RequestTimeout("The request head did not arrive in time.") from None


class GatewayProtocol(HttpProtocol):
    HTTP_CLASS = DeadlineHttp
    __slots__ = ("_peer", "_refused")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._peer: str | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cap: int = self.app.ctx.max_connections_per_ip
        peer = transport.get_extra_info("peername")
        if cap and isinstance(peer, tuple) and peer:
            counts: dict[str, int] = self.app.ctx.open_connections
            host = str(peer[0])
            if counts.get(host, 0) >= cap:
                self._refused = True
                transport.write(TOO_MANY_CONNECTIONS)  # type: ignore[attr-defined]
                transport.close()
                return
            counts[host] = counts.get(host, 0) + 1
            self._peer = host
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return  # Sanic never saw this connection
        if self._peer is not None:
            counts: dict[str, int] = self.app.ctx.open_connections
            left = counts.get(self._peer, 1) - 1
            if left > 0:
                counts[self._peer] = left
            else:
                counts.pop(self._peer, None)
            self._peer = None
        super().connection_lost(exc)
