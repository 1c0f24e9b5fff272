"""The pooled upstream clients: one connection pool per worker, shared by every request.

Proxied requests go through a ``ProxyClient``: aiohttp's session called directly (the default
engine, measured faster under concurrency) or httpx's own pool (``engine = "httpx"``). The control
plane (model lists, key checks, resources) uses httpx's API over the same pool. Bodies are read as
raw bytes, never decompressed or re-encoded.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import aiohttp
import httpx
import orjson
import yarl

from config.settings import Settings
from proxy import __version__
from proxy.context import Upstream

USER_AGENT = f"llmgate/{__version__}"
MAX_ERROR_BODY = 64 * 1024


class UpstreamUnreachable(Exception):
    """The upstream could not be reached or its answer was cut off (refused, reset, timed out).

    Its text says what happened in a line fit for the client's error message (no secrets: the
    caller scrubs it anyway).
    """


def _unreachable(exc: BaseException) -> UpstreamUnreachable:
    if isinstance(exc, TimeoutError) and not str(exc).strip():
        return UpstreamUnreachable(f"{type(exc).__name__}: timed out")
    text = str(exc).strip()
    return UpstreamUnreachable(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


class UpstreamAnswer:
    """An open answer from the upstream: status and content type known, body not read yet."""

    __slots__ = ()
    status: int
    content_type: str | None

    def chunks(self) -> AsyncIterator[bytes]:
        """The body's raw bytes as they arrive; ``UpstreamUnreachable`` when the connection fails."""
        raise NotImplementedError

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body (at most about ``limit`` bytes); ``UpstreamUnreachable`` as ``chunks``."""
        parts: list[bytes] = []
        size = 0
        async for chunk in self.chunks():
            parts.append(chunk)
            size += len(chunk)
            if limit is not None and size > limit:
                break
        return b"".join(parts)

    async def aclose(self) -> None:
        raise NotImplementedError


class ProxyClient:
    """Sends the proxied requests: one per worker, its connection pool shared by every request."""

    async def open(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> UpstreamAnswer:
        """Send a request; the answer comes back unread. ``UpstreamUnreachable`` when it cannot."""
        raise NotImplementedError


class _AiohttpAnswer(UpstreamAnswer):
    __slots__ = ("_response", "content_type", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.content_type = response.headers.get("content-type")

    async def chunks(self) -> AsyncIterator[bytes]:
        content = self._response.content
        try:
            while chunk := await content.readany():
                yield chunk
        except _AIOHTTP_ERRORS as exc:
            raise _unreachable(exc) from exc

    async def read(self, limit: int | None = None) -> bytes:
        if limit is not None:
            return await super().read(limit)
        try:
            return await self._response.read()
        except _AIOHTTP_ERRORS as exc:
            raise _unreachable(exc) from exc

    async def aclose(self) -> None:
        # Back to the pool when the body was read to its end; a half-read body closes the connection.
        self._response.release()


class AiohttpProxy(ProxyClient):
    """aiohttp's session, called directly: no request or response objects of another library on
    the hot path (httpx's layer over aiohttp cost 6 to 9 % of a request)."""

    def __init__(self, session: aiohttp.ClientSession, timeout: aiohttp.ClientTimeout) -> None:
        self.session = session
        self.timeout = timeout

    async def open(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> UpstreamAnswer:
        try:
            response = await self.session.request(
                method,
                _yarl_url(url),
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=self.timeout,
            )
        except _AIOHTTP_ERRORS as exc:
            raise _unreachable(exc) from exc
        return _AiohttpAnswer(response)


class _HttpxAnswer(UpstreamAnswer):
    __slots__ = ("_response", "content_type", "status")

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.content_type = response.headers.get("content-type")

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.HTTPError as exc:
            raise _unreachable(exc) from exc

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpxProxy(ProxyClient):
    """httpx's own pool (``engine = "httpx"``), through the control-plane client's transport."""

    def __init__(self, client: UpstreamClient) -> None:
        self.client = client

    async def open(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> UpstreamAnswer:
        try:
            response = await self.client.open(method, _httpx_url(url), body, httpx.Headers(headers))
        except httpx.HTTPError as exc:
            raise _unreachable(exc) from exc
        return _HttpxAnswer(response)


class _NoCookies(httpx.Cookies):
    """A jar that keeps nothing."""

    def extract_cookies(self, response: httpx.Response) -> None:
        pass


class UpstreamClient(httpx.AsyncClient):
    """httpx's client without a cookie jar, for the control plane (model lists, key checks).

    One client serves every user's keys: a cookie one upstream answer sets must never travel with
    another user's request. Skipping the jar also saves its per-response parsing.
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
        """Send a proxied request straight to the transport; the answer comes back unread.

        The client's auth, redirect, cookie and event-hook layers do nothing for a gateway.
        """
        request = httpx.Request(
            method, url, content=body, headers=headers, extensions={"timeout": self._timeouts}
        )
        response = await self.transport.handle_async_request(request)
        # The answer refers to its request, and the request holds the body it sent: an open stream
        # would keep that body for its whole life. A bodiless stand-in keeps the method and URL
        # that httpx's errors name.
        response.request = _sent(method, url)
        return response


# What aiohttp raises for a connection refused, reset or timed out (its own classes, and the
# socket's and asyncio's underneath).
_AIOHTTP_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


@functools.lru_cache(maxsize=4096)
def _sent(method: str, url: httpx.URL) -> httpx.Request:
    return httpx.Request(method, url)


@functools.lru_cache(maxsize=4096)
def _httpx_url(url: str) -> httpx.URL:
    return httpx.URL(url)


@functools.lru_cache(maxsize=4096)
def _yarl_url(url: str) -> yarl.URL:
    """Parsed once per upstream path: yarl parses and checks a string URL on every request otherwise."""
    return yarl.URL(url)


@dataclass
class UpstreamClients:
    """A worker's upstream clients, one connection pool: the proxied path's and httpx's API over
    the same pool for the control plane (model lists, key checks, resources)."""

    proxy: ProxyClient
    http: UpstreamClient  # closing it closes the shared pool


def make_upstream_clients(settings: Settings) -> UpstreamClients:
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
    if settings.upstream_engine != "aiohttp":
        http = UpstreamClient(transport=httpx.AsyncHTTPTransport(limits=limits), timeout=timeout,
                              follow_redirects=False, trust_env=False)  # fmt: skip
        return UpstreamClients(HttpxProxy(http), http)
    from httpx_aiohttp import AiohttpTransport

    connector = aiohttp.TCPConnector(limit=settings.upstream_max_connections, keepalive_timeout=30)
    session = aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False, trust_env=False
    )
    aio_timeout = aiohttp.ClientTimeout(
        connect=settings.upstream_connect_timeout,  # waiting for a pooled connection, and connecting
        sock_connect=settings.upstream_connect_timeout,
        sock_read=settings.upstream_read_timeout,
    )
    http = UpstreamClient(transport=AiohttpTransport(client=session), timeout=timeout,
                          follow_redirects=False, trust_env=False)  # fmt: skip
    return UpstreamClients(AiohttpProxy(session, aio_timeout), http)


def upstream_headers(api_key: str | None, *, json_body: bool = True) -> dict[str, str]:
    headers = {"user-agent": USER_AGENT, "accept-encoding": "identity"}
    if json_body:
        headers["content-type"] = "application/json"
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return headers


@functools.lru_cache(maxsize=4096)
def _proxied_headers(api_key: str | None) -> Mapping[str, str]:
    return MappingProxyType(upstream_headers(api_key))


def proxied_headers(upstream: Upstream) -> Mapping[str, str]:
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
