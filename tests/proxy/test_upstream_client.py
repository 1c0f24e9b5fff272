"""The pooled upstream client: shared by every user, so it must keep nothing between requests."""

from __future__ import annotations

import httpx

from proxy.upstream import UpstreamClient


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
