"""Sending a request upstream: walk the candidates, fail over, map failures to client errors."""

from __future__ import annotations

import asyncio

import httpx
import orjson

from proxy.context import RequestContext, UpstreamFailure
from proxy.errors import APIError, UpstreamError
from proxy.upstream import MAX_ERROR_BODY, error_message, proxied_headers, upstream_url

_SERVER_ERROR_RETRIES = "core.server_error_retries"
# Sent with a transient 429: clients (the openai SDK, Codex) retry a 429 only when told when to.
TRANSIENT_RETRY_AFTER_SECONDS = 2
_CONTEXT_OVERFLOW_TEXTS = (
    "context length", "context window", "context size", "prompt too long", "maximum context"
)  # fmt: skip
# Ollama's native chat: the only body an upstream's ``chat_options`` are merged into.
NATIVE_CHAT_PATH = "/api/chat"


class MidStreamError(UpstreamError):
    """The upstream's answer broke off after it had started (connection lost, read timeout)."""


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def failure_to_error(failure: UpstreamFailure) -> APIError:
    """The client's view of one failed attempt, in the OpenAI error shape."""
    label = failure.upstream.label
    status = failure.status
    if status is None:
        return UpstreamError(failure.message, status=502, code="upstream_unreachable")
    message = f"upstream {label} answered {status}: {failure.message}"
    text = failure.message.lower()
    if any(marker in text for marker in _CONTEXT_OVERFLOW_TEXTS):
        # Whatever status the upstream chose, a retry cannot help; OpenAI clients know this code.
        return APIError(message, status=400, type="invalid_request_error", code="context_length_exceeded")
    if status == 401:
        # The client's own key was fine; the gateway's credentials for the upstream were not.
        return UpstreamError(message, status=502, code="upstream_unauthorized", upstream_status=status)
    if status == 429:
        # A spent quota ("usage limit") will not be back in seconds; anything else is worth a retry.
        retry = {} if "usage limit" in text else {"retry-after": str(TRANSIENT_RETRY_AFTER_SECONDS)}
        return APIError(message, status=429, type="rate_limit_error", code="rate_limit_exceeded", headers=retry)
    if status == 503:
        return UpstreamError(message, status=503, code="server_is_overloaded", upstream_status=status)
    if status >= 500:
        return UpstreamError(message, status=502, code="upstream_error", upstream_status=status)
    if status == 403:
        return APIError(message, status=403, type="permission_error", code="upstream_forbidden")
    if status == 404:
        return APIError(message, status=404, type="invalid_request_error", code="model_not_found")
    return APIError(message, status=status, type="invalid_request_error", code="upstream_rejected")


def _default_verdict(ctx: RequestContext, failure: UpstreamFailure) -> bool:
    """Without a plugin's opinion: connection failures and 5xx get one more candidate."""
    if failure.status is None or failure.status >= 500:
        retries = ctx.meta.get(_SERVER_ERROR_RETRIES, 0)
        ctx.meta[_SERVER_ERROR_RETRIES] = retries + 1
        return retries < 1
    return False


def _body_for(ctx: RequestContext, index: int) -> bytes:
    """The serialized request for candidate ``index``; serialized again only if the model or the
    candidate's chat options differ."""
    ureq = ctx.upstream_request
    assert ureq is not None
    cache: dict[tuple[object, tuple[tuple[str, object], ...]], bytes] = ctx.meta.setdefault("core.bodies", {})
    upstream = ctx.candidates[index]
    model = ureq.json.get("model")
    if isinstance(model, str):
        model = upstream.model_name(model)
    options = upstream.chat_options if ureq.path == NATIVE_CHAT_PATH else ()
    body = cache.get((model, options))
    if body is None:
        payload = ureq.json if model == ureq.json.get("model") else {**ureq.json, "model": model}
        if options:
            own = payload.get("options")
            payload = {**payload, "options": {**(own if isinstance(own, dict) else {}), **dict(options)}}
        body = cache[(model, options)] = orjson.dumps(payload)
    ctx.upstream_model = model
    return body


async def record_failure(ctx: RequestContext, failure: UpstreamFailure) -> bool:
    """Note a failed attempt; True when the next candidate should be tried."""
    ctx.failures.append(failure)
    verdict = await ctx.state.runner.call("classify_upstream_failure", ctx, failure=failure)
    return _default_verdict(ctx, failure) if verdict is None else bool(verdict)


async def give_up(ctx: RequestContext) -> APIError:
    error = await ctx.state.runner.call("no_upstream_left", ctx)
    if error is not None:
        return error
    if ctx.failures:
        return failure_to_error(ctx.failures[-1])
    return UpstreamError("no upstream is available for this request", status=503, code="no_upstream")


async def open_upstream(ctx: RequestContext, start: int = 0) -> tuple[httpx.Response, int]:
    """Send the request to the candidates from ``start`` on; return the first usable answer.

    The answer is open (streamed) and its status below 400. Raises ``APIError`` for the client.
    """
    ureq = ctx.upstream_request
    assert ureq is not None
    client = ctx.state.http
    runner = ctx.state.runner
    for index in range(start, len(ctx.candidates)):
        upstream = ctx.candidates[index]
        if await runner.call("upstream_attempt", ctx, upstream=upstream) is False:
            continue
        headers = proxied_headers(upstream)
        if ureq.headers:
            headers = headers.copy()  # the prebuilt defaults are shared by every request to this key
            headers.update(ureq.headers)
        try:
            response = await client.open(
                ureq.method, upstream_url(upstream.base_url, ureq.path), _body_for(ctx, index), headers
            )
        except httpx.HTTPError as exc:
            failure = UpstreamFailure(upstream, None, f"could not reach upstream {upstream.label}: {_describe(exc)}")
        else:
            if response.status_code < 400:
                ctx.upstream = upstream
                await runner.call("upstream_chosen", ctx, upstream=upstream)
                return response, index
            try:
                raw = b""
                async for chunk in response.aiter_raw():
                    raw += chunk
                    if len(raw) > MAX_ERROR_BODY:
                        break
            except httpx.HTTPError:
                pass
            finally:
                await response.aclose()
            failure = UpstreamFailure(upstream, response.status_code, error_message(raw))
        if not await record_failure(ctx, failure):
            raise failure_to_error(failure)
    raise await give_up(ctx)


class UpstreamStream:
    """The serving upstream's body as an async iterator of raw chunks.

    The request may still be in flight when iteration starts (the emulator commits its stream
    early). ``failover`` drops the current upstream and continues with the next candidate; modes
    call it only while the client has seen no output.
    """

    def __init__(self, ctx: RequestContext, opening: asyncio.Future[tuple[httpx.Response, int]]) -> None:
        self.ctx = ctx
        self._opening = opening
        self._response: httpx.Response | None = None
        self._index = -1
        self._chunks: object = None

    def __aiter__(self) -> UpstreamStream:
        return self

    async def __anext__(self) -> bytes:
        if self._chunks is None:
            self._response, self._index = await self._opening
            self._chunks = self._response.aiter_raw()
        try:
            return await self._chunks.__anext__()  # type: ignore[attr-defined]
        except httpx.HTTPError as exc:
            label = self.ctx.upstream.label if self.ctx.upstream else "?"
            raise MidStreamError(f"upstream {label} failed mid-stream: {_describe(exc)}", status=502) from exc

    async def failover(self, message: str) -> bool:
        """Record the current upstream's failure and open the next candidate. False: none left."""
        ctx = self.ctx
        await self.aclose()
        if ctx.upstream is None:
            return False
        if not await record_failure(ctx, UpstreamFailure(ctx.upstream, None, message)):
            return False
        self._opening = asyncio.ensure_future(open_upstream(ctx, self._index + 1))
        self._response, self._chunks = None, None
        return True

    async def aclose(self) -> None:
        if not self._opening.done():
            self._opening.cancel()
        elif self._response is None and not self._opening.cancelled() and self._opening.exception() is None:
            self._response, self._index = self._opening.result()
        if self._response is not None:
            await self._response.aclose()
