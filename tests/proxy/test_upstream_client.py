"""The pooled upstream client: shared by every user, so it must keep nothing between requests."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from proxy.upstream import UpstreamClient, make_http_client


async def test_a_cookie_set_for_one_request_never_reaches_the_next() -> None:
    seen: list[str | None] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"set-cookie": "session=alice-secret; Path=/"}, json={})

    for client_class, expected in ((httpx.AsyncClient, "session=alice-secret"), (UpstreamClient, None)):
        seen.clear()
        async with client_class(transport=httpx.MockTransport(upstream)) as client:
            await client.post("http://ollama.test/api/chat", headers={"authorization": "Bearer alice"})
            await client.post("http://ollama.test/api/chat", headers={"authorization": "Bearer bob"})
        # A plain httpx client would send alice's cookie with bob's request; ours keeps no jar.
        assert seen == [None, expected]


async def test_open_sends_through_the_transport_it_was_built_with() -> None:
    received: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200, content=b'{"ok": true}')

    transport = httpx.MockTransport(upstream)
    async with UpstreamClient(transport=transport, timeout=httpx.Timeout(7.0)) as client:
        assert client.transport is transport
        headers = httpx.Headers({"authorization": "Bearer k", "x-tenant": "blue"})
        response = await client.open("POST", httpx.URL("http://ollama.test/api/chat"), b'{"model":"m"}', headers)
        assert await response.aread() == b'{"ok": true}'
    (request,) = received
    assert request.method == "POST" and request.url.path == "/api/chat" and request.content == b'{"model":"m"}'
    assert request.headers["x-tenant"] == "blue" and request.headers["authorization"] == "Bearer k"
    # The client's timeouts travel with the request, as httpx's own send would pass them.
    assert request.extensions["timeout"] == httpx.Timeout(7.0).as_dict()


@pytest.mark.parametrize("engine", ["aiohttp", "httpx"])
async def test_make_http_client_keeps_its_own_transport(make_settings, engine: str) -> None:
    client = make_http_client(make_settings(env={"LLMGATE_UPSTREAM_ENGINE": engine}))
    try:
        assert isinstance(client, UpstreamClient)
        expected = "AiohttpTransport" if engine == "aiohttp" else "AsyncHTTPTransport"
        assert type(client.transport).__name__ == expected
    finally:
        await client.aclose()


def test_no_private_attribute_of_httpx_is_touched() -> None:
    root = Path(__file__).resolve().parents[2]
    offenders = [
        str(path.relative_to(root))
        for folder in ("proxy", "plugins", "dashboard")
        for path in (root / folder).rglob("*.py")
        if "._transport" in path.read_text() or "._pool" in path.read_text()
    ]
    assert offenders == []
