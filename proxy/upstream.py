"""The pooled upstream HTTP client: one per worker, shared by every request.

httpx's API over a choice of engines: aiohttp's (default; measured faster under concurrency) or
httpx's own pool. Bodies are read as raw bytes and never decompressed or re-encoded.
"""

from __future__ import annotations

import functools
from typing import Any

import httpx
import orjson

from config.settings import Settings
from proxy import __version__
from proxy.context import Upstream

USER_AGENT = f"llmgate/{__version__}"
MAX_ERROR_BODY = 64 * 1024


class _NoCookies(httpx.Cookies):
    """A jar that keeps nothing."""

    def extract_cookies(self, response: httpx.Response) -> None:
        pass


class UpstreamClient(httpx.AsyncClient):
    """httpx's client without a cookie jar.

    One client serves every user's keys: a cookie one upstream answer sets must never travel with
    another user's request. Skipping the jar also saves its per-response parsing (4% of a request).
    """

    _no_cookies = _NoCookies()

    def __init__(self, *, transport: httpx.AsyncBaseTransport, **kwargs: Any) -> None:
        super().__init__(transport=transport, **kwargs)
        # Our own reference to the transport we built: ``open`` calls its public
        # ``handle_async_request`` instead of reaching into the client's private attributes.
        self.transport = transport
        self._timeouts = self.timeout.as_dict()

    @property  # type: ignore[override]
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, value: object) -> None:
        pass

    async def open(self, method: str, url: httpx.URL, body: bytes, headers: httpx.Headers) -> httpx.Response:
        """Send a proxied request; the answer comes back unread, to be streamed or read.

        Goes straight to the transport: the client's auth, redirect, cookie and event-hook layers
        and its header merging do nothing for a gateway and cost about a tenth of a request.
        """
        request = httpx.Request(method, url, content=body, headers=headers, extensions={"timeout": self._timeouts})
        response = await self.transport.handle_async_request(request)
        # The answer refers to its request, and the request holds the body it sent: an open stream
        # would keep that body for its whole life. A bodiless stand-in keeps the method and URL
        # that httpx's errors name.
        response.request = _sent(method, url)
        return response


@functools.lru_cache(maxsize=4096)
def _sent(method: str, url: httpx.URL) -> httpx.Request:
    return httpx.Request(method, url)


@functools.lru_cache(maxsize=4096)
def upstream_url(base_url: str, path: str) -> httpx.URL:
    """Parsed once: httpx parses (and IP-checks) a string URL on every request otherwise."""
    return httpx.URL(base_url + path)


def make_http_client(settings: Settings) -> httpx.AsyncClient:
    timeout = httpx.Timeout(
        connect=settings.upstream_connect_timeout,
        read=settings.upstream_read_timeout,
        write=settings.upstream_read_timeout,
        pool=settings.upstream_connect_timeout,
    )
    limits = httpx.Limits(
        max_connections=settings.upstream_max_connections,
        max_keepalive_connections=settings.upstream_max_connections,
        keepalive_expiry=30,
    )
    if settings.upstream_engine == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        transport: httpx.AsyncBaseTransport = AiohttpTransport(limits=limits)
    else:
        transport = httpx.AsyncHTTPTransport(limits=limits)
    return UpstreamClient(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)


def upstream_headers(api_key: str | None, *, json_body: bool = True) -> dict[str, str]:
    headers = {"user-agent": USER_AGENT, "accept-encoding": "identity"}
    if json_body:
        headers["content-type"] = "application/json"
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return headers


@functools.lru_cache(maxsize=4096)
def _proxied_headers(api_key: str | None) -> httpx.Headers:
    return httpx.Headers(upstream_headers(api_key))


def proxied_headers(upstream: Upstream) -> httpx.Headers:
    """The headers of a proxied JSON request to ``upstream``, built once per key."""
    return _proxied_headers(upstream.api_key)


def error_message(raw: bytes) -> str:
    """The human part of an upstream error body: Ollama's ``{"error": "..."}`` or OpenAI's shape."""
    try:
        data: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        text = raw[:500].decode("utf-8", "replace").strip()
        return text or "(empty response)"
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, str):
            return error
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(data.get("message"), str):
            return data["message"]
    return raw[:500].decode("utf-8", "replace")


async def fetch_json(
    client: httpx.AsyncClient, upstream: Upstream, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    """A small control-plane call (tags, show, me, usage): status and parsed JSON (or None)."""
    content = orjson.dumps(body) if body is not None else None
    response = await client.request(
        method,
        upstream.base_url + path,
        content=content,
        headers=upstream_headers(upstream.api_key, json_body=content is not None),
    )
    try:
        data = orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        data = None
    return response.status_code, data
