"""The pooled upstream clients: shared by every user, so they must keep nothing between requests.

Run against a real HTTP server (aiohttp's), with each engine the gateway offers.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from multidict import CIMultiDict

from proxy.upstream import UpstreamClients, UpstreamUnreachable, make_upstream_clients

ENGINES = ["aiohttp", "httpx"]


class Upstream:
    """An HTTP server that records what it receives and sets a cookie on every answer."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, bytes, CIMultiDict[str]]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append((request.method, request.path, body, request.headers.copy()))
        if request.path == "/big":
            response = web.StreamResponse(status=200, headers={"content-type": "text/event-stream"})
            await response.prepare(request)
            for _ in range(64):
                await response.write(b"x" * 1024)
            return response
        response = web.Response(status=201, body=b'{"ok": true}', content_type="application/json")
        response.set_cookie("session", "alice-secret")
        return response


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    server = Upstream()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{port}"
    yield server
    await runner.cleanup()


@pytest.fixture(params=ENGINES)
async def clients(request, make_settings) -> AsyncIterator[UpstreamClients]:
    made = make_upstream_clients(make_settings(env={"LLMGATE_UPSTREAM_ENGINE": request.param}))
    yield made
    await made.http.aclose()


async def test_a_cookie_set_for_one_request_never_reaches_the_next(
    upstream: Upstream, clients: UpstreamClients
) -> None:
    for _ in range(2):
        answer = await clients.proxy.open(
            "POST", upstream.url + "/api/chat", b"{}", {"authorization": "Bearer alice"}
        )
        await answer.read()
        await answer.aclose()
    await clients.http.post(upstream.url + "/api/tags", headers={"authorization": "Bearer bob"})
    # A plain client would send alice's cookie with the next request, bob's included; ours keep no jar.
    assert [headers.get("Cookie") for *_, headers in upstream.received] == [None, None, None]


async def test_open_sends_the_request_as_given_and_reads_the_answer(
    upstream: Upstream, clients: UpstreamClients
) -> None:
    headers = {"authorization": "Bearer k", "x-tenant": "blue", "content-type": "application/json"}
    answer = await clients.proxy.open("POST", upstream.url + "/api/chat", b'{"model":"m"}', headers)
    try:
        assert (answer.status, answer.content_type) == (201, "application/json")
        assert await answer.read() == b'{"ok": true}'
    finally:
        await answer.aclose()
    ((method, path, body, received),) = upstream.received
    assert (method, path, body) == ("POST", "/api/chat", b'{"model":"m"}')
    assert received["X-Tenant"] == "blue" and received["Authorization"] == "Bearer k"


async def test_a_long_answer_arrives_in_chunks_and_read_stops_near_its_limit(
    upstream: Upstream, clients: UpstreamClients
) -> None:
    answer = await clients.proxy.open("POST", upstream.url + "/big", b"{}", {})
    chunks = [chunk async for chunk in answer.chunks()]
    await answer.aclose()
    assert b"".join(chunks) == b"x" * 65536
    answer = await clients.proxy.open("POST", upstream.url + "/big", b"{}", {})
    part = await answer.read(4096)  # an error body: only its start is wanted
    await answer.aclose()
    assert 4096 < len(part) < 65536


async def test_an_upstream_nobody_listens_on_is_unreachable_with_the_reason(clients: UpstreamClients) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UpstreamUnreachable) as raised:
        await clients.proxy.open("POST", f"http://127.0.0.1:{port}/api/chat", b"{}", {})
    # What failed, by the engine's name for it: the client's 502 message carries this line.
    assert str(raised.value).split(":")[0] in {"ClientConnectorError", "ConnectError"}


def test_no_private_attribute_of_httpx_is_touched() -> None:
    root = Path(__file__).resolve().parents[2]
    offenders = [
        str(path.relative_to(root))
        for folder in ("proxy", "plugins", "dashboard")
        for path in (root / folder).rglob("*.py")
        if "._transport" in path.read_text() or "._pool" in path.read_text()
    ]
    assert offenders == []
