"""Sending a request upstream: walk the candidates, fail over, map failures to client errors.

Failover is the core's: ``open_upstream`` walks the candidates until one answers below 400, and
``Attempts`` runs the stream wrappers over one candidate's body at a time, moving on to the next
candidate when the body fails (``UpstreamFailed``) before committed output reached the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson

from proxy.context import RequestContext, UpstreamFailure
from proxy.errors import APIError, UpstreamError
from proxy.failures import FailureVerdict, UpstreamFailed, failure_to_error
from proxy.scrub import scrub_secrets
from proxy.streams import Provisional
from proxy.upstream import MAX_ERROR_BODY, UpstreamAnswer, UpstreamUnreachable, error_message, proxied_headers

_SERVER_ERROR_RETRIES = "core.server_error_retries"
# Ollama's native chat: the only body an upstream's ``chat_options`` are merged into.
NATIVE_CHAT_PATH = "/api/chat"


def _describe(exc: UpstreamUnreachable) -> str:
    return scrub_secrets(str(exc))


def _default_verdict(ctx: RequestContext, failure: UpstreamFailure) -> bool:
    """Without a plugin's opinion: connection failures and 5xx get one more candidate."""
    if failure.status is None or failure.status >= 500:
        retries = ctx.meta.get(_SERVER_ERROR_RETRIES, 0)
        ctx.meta[_SERVER_ERROR_RETRIES] = retries + 1
        return retries < 1
    return False


_BODIES = "core.bodies"


def _body_for(ctx: RequestContext, index: int) -> bytes:
    """The serialized request for candidate ``index``; serialized again only if the model or the
    candidate's chat options differ. Kept only while candidates are being tried (see
    ``open_upstream``): a failover after an answer serializes again."""
    ureq = ctx.upstream_request
    assert ureq is not None
    cache: dict[tuple[object, tuple[tuple[str, object], ...]], bytes] = ctx.meta.setdefault(_BODIES, {})
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
        # A right-sized copy: orjson's output sits in a buffer several times its length (a Codex turn:
        # 36 KB in 280 KB), held while the upstream is reached, by every request in flight at once.
        body = cache[(model, options)] = bytes(memoryview(orjson.dumps(payload)))
    ctx.upstream_model = model
    return body


def release_upstream_body(ctx: RequestContext) -> None:
    """Failover is over: drop the upstream request's body (a chat history, tools) for the rest of
    the request. The request itself (path, headers, ``stream``) stays."""
    if ctx.upstream_request is not None:
        ctx.upstream_request.json = {}
    ctx.meta.pop(_BODIES, None)


async def record_failure(ctx: RequestContext, failure: UpstreamFailure) -> bool:
    """Note a failed attempt; True when the next candidate should be tried."""
    ctx.failures.append(failure)
    verdict = await ctx.state.runner.call("classify_upstream_failure", ctx, failure=failure)
    if verdict is None:
        return _default_verdict(ctx, failure)
    return verdict.retry if isinstance(verdict, FailureVerdict) else bool(verdict)


async def give_up(ctx: RequestContext) -> APIError:
    error = await ctx.state.runner.call("no_upstream_left", ctx)
    if error is not None:
        return error
    if ctx.failures:
        return failure_to_error(ctx.failures[-1])
    return UpstreamError("no upstream is available for this request", status=503, code="no_upstream")


async def open_upstream(ctx: RequestContext, start: int = 0) -> tuple[UpstreamAnswer, int]:
    """Send the request to the candidates from ``start`` on; return the first usable answer.

    The answer is open (streamed) and its status below 400. Raises ``APIError`` for the client.
    """
    ureq = ctx.upstream_request
    assert ureq is not None
    client = ctx.state.proxy
    runner = ctx.state.runner
    for index in range(start, len(ctx.candidates)):
        upstream = ctx.candidates[index]
        if await runner.call("upstream_attempt", ctx, upstream=upstream) is False:
            continue
        headers = proxied_headers(upstream)
        if ureq.headers:  # a new dict: the prebuilt defaults are shared by every request to this key
            headers = {**headers, **ureq.headers}
        body = _body_for(ctx, index)
        if index == len(ctx.candidates) - 1:
            # The last candidate: no other will need the request's JSON, only these bytes. A
            # crowd of long requests waiting for their upstream does not hold their parsed bodies.
            release_upstream_body(ctx)
        try:
            response = await client.open(ureq.method, upstream.base_url + ureq.path, body, headers)
        except UpstreamUnreachable as exc:
            failure = UpstreamFailure(
                upstream, None, f"could not reach upstream {upstream.label}: {_describe(exc)}"
            )
        else:
            if response.status < 400:
                # The upstream has the request: a long stream must not keep its serialized body
                # (a Codex turn: over 100 KB, as orjson sizes its buffer generously).
                ctx.meta.pop(_BODIES, None)
                ctx.upstream = upstream
                await runner.call("upstream_chosen", ctx, upstream=upstream)
                return response, index
            try:
                raw = await response.read(MAX_ERROR_BODY)
            except UpstreamUnreachable:
                raw = b""
            finally:
                await response.aclose()
            failure = UpstreamFailure(upstream, response.status, error_message(raw))
        if not await record_failure(ctx, failure):
            raise failure_to_error(failure)
    raise await give_up(ctx)


class UpstreamBody:
    """One candidate's body as an async iterator of raw chunks.

    The request may still be in flight when iteration starts (the emulator commits its stream
    early); a failed opening raises its ``APIError`` here. A connection lost while reading raises
    ``UpstreamFailed``.
    """

    def __init__(self, ctx: RequestContext, opening: asyncio.Future[tuple[UpstreamAnswer, int]]) -> None:
        self.ctx = ctx
        self.index = -1
        self._opening = opening
        self._response: UpstreamAnswer | None = None
        self._chunks: AsyncIterator[bytes] | None = None

    def __aiter__(self) -> UpstreamBody:
        return self

    async def __anext__(self) -> bytes:
        if self._chunks is None:
            self._response, self.index = await self._opening
            self._chunks = self._response.chunks()
        try:
            return await self._chunks.__anext__()
        except UpstreamUnreachable as exc:
            label = self.ctx.upstream.label if self.ctx.upstream else "?"
            raise UpstreamFailed(f"upstream {label} failed mid-stream: {_describe(exc)}") from exc

    async def aclose(self) -> None:
        opening = self._opening
        if not opening.done():
            opening.cancel()
        elif self._response is None and not opening.cancelled() and opening.exception() is None:
            self._response, self.index = opening.result()
        if self._response is not None:
            await self._response.aclose()


def _failed(error: APIError) -> asyncio.Future[tuple[UpstreamAnswer, int]]:
    future: asyncio.Future[tuple[UpstreamAnswer, int]] = asyncio.get_running_loop().create_future()
    future.set_exception(error)
    return future


class Attempts:
    """The client's stream, over as many candidates as it takes.

    Each attempt runs the ``stream_transform_response`` chain afresh over one candidate's body, so
    a mode's per-attempt state starts clean. Until a chunk that is not ``Provisional`` (a
    heartbeat, an opening the next candidate can continue) has been yielded, an ``UpstreamFailed``
    from the chain is recorded and classified, and the next candidate gets its turn. When none is
    left, the chain runs once more over a body that raises the client's error, so the mode renders
    it in its own terminal event once its status is committed.

    Iterating yields up to and including the first committed chunk; the rest is ``rest``, the
    serving attempt's chain itself, read without a layer in between (failover is over by then).
    """

    def __init__(self, ctx: RequestContext) -> None:
        self.ctx = ctx
        # The first candidate's request, already in flight: a mode that commits early waits on it.
        self.opening = asyncio.ensure_future(open_upstream(ctx))
        self.rest: AsyncIterator[bytes] | None = None  # set once committed output reached the client
        self._serving: UpstreamBody | None = None
        self._chunks = self._attempts()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks

    async def aclose(self) -> None:
        await self._chunks.aclose()  # type: ignore[attr-defined]
        if self.rest is not None:
            await _close_chain(self.rest, self._serving)
        # The stream may end before its first attempt began (an error before the commit).
        await UpstreamBody(self.ctx, self.opening).aclose()

    async def _attempts(self) -> AsyncIterator[bytes]:
        ctx = self.ctx
        opening = self.opening
        while True:
            body = UpstreamBody(ctx, opening)
            chain = ctx.state.runner.chain_stream(ctx, body)
            try:
                async for chunk in chain:
                    if type(chunk) is not Provisional:
                        self.rest, self._serving = chain, body
                        release_upstream_body(ctx)
                        yield chunk
                        return
                    yield chunk
                return
            except UpstreamFailed as failed:
                if ctx.upstream is None:
                    raise
                failure = UpstreamFailure(ctx.upstream, failed.upstream_status, failed.message)
                if await record_failure(ctx, failure):
                    opening = asyncio.ensure_future(open_upstream(ctx, body.index + 1))
                else:
                    opening = _failed(failure_to_error(failure))
            finally:
                if self.rest is None:
                    await _close_chain(chain, body)


async def _close_chain(chain: AsyncIterator[bytes], body: UpstreamBody | None) -> None:
    aclose = getattr(chain, "aclose", None)
    if aclose is not None and chain is not body:
        await aclose()
    if body is not None:
        await body.aclose()
