"""One API request through the hook chain:

wrap_request ( authenticate → resolve_mode → (endpoint check, body) → admit_request →
transform_request → prepare_upstream_request → select_upstream → open upstream with failover →
transform_response | stream_transform_response, run again on the next candidate while the
upstream fails before committed output ) → request_finished
"""

from __future__ import annotations

import asyncio
import logging
import os
from functools import partial
from typing import Any

import orjson
from sanic import Request
from sanic.response import HTTPResponse

from proxy.context import ClientResponse, Endpoint, RequestContext, Route
from proxy.dispatch import Attempts, open_upstream, release_upstream_body
from proxy.errors import APIError, AuthenticationFailed, InvalidRequest, PermissionDenied, UpstreamError
from proxy.scrub import scrub_secrets
from proxy.state import AppState
from proxy.streams import sse_data
from proxy.upstream import UpstreamUnreachable

log = logging.getLogger("llmgate")


def new_context(request: Request, endpoint: Endpoint) -> RequestContext:
    state: AppState = request.app.ctx.state
    return RequestContext(
        request=request,
        settings=state.settings,
        state=state,
        endpoint=endpoint,
        request_id=os.urandom(8).hex(),
    )


def error_response(ctx: RequestContext | None, error: APIError) -> HTTPResponse:
    headers = dict(error.headers)
    if ctx is not None:
        # Headers plugins set for every answer (x-ratelimit-*) travel with errors too.
        headers = {**{k: v for k, v in ctx.response_headers.items() if k != "content-type"}, **headers}
        headers["x-request-id"] = ctx.request_id
        ctx.status = error.status
    return HTTPResponse(error.body(), status=error.status, headers=headers, content_type="application/json")


def _mode_endpoints(state: AppState, mode: str) -> str:
    spec = state.runner.modes.get(mode)
    return " and ".join(str(e) for e in spec.endpoints) if spec else "no endpoint"


async def authorize(ctx: RequestContext) -> None:
    """Authenticate and resolve the mode; raises the client's 401/403."""
    runner = ctx.state.runner
    principal = await runner.call("authenticate", ctx)
    if principal is None:
        raise AuthenticationFailed(
            "Incorrect or missing API key. Send it as 'Authorization: Bearer sk-...'; "
            "keys are created on the dashboard or with 'llmgate api-key create'."
        )
    ctx.principal = principal
    mode = await runner.call("resolve_mode", ctx)
    if mode not in runner.modes:
        raise PermissionDenied(
            f"This API key's mode {mode!r} is not enabled on this server.", code="mode_disabled"
        )
    ctx.mode = mode


# Words that start with a vowel letter but a consonant sound ("a user"), and the reverse ("an hour").
_CONSONANT_SOUNDS = ("uni", "use", "usu", "uti", "ura", "eu", "one", "once")
_VOWEL_SOUNDS = ("hour", "honest", "honor", "honour", "heir")


def mode_key(mode: str | None) -> str:
    """'an emulator key', 'a bypass key': the key's mode with the article English wants."""
    name = (mode or "").lower()
    vowel = name[:1] in ("a", "e", "i", "o", "u") and not name.startswith(_CONSONANT_SOUNDS)
    article = "an" if vowel or name.startswith(_VOWEL_SOUNDS) else "a"
    return f"{article} {mode} key"


def check_endpoint(ctx: RequestContext) -> None:
    spec = ctx.state.runner.modes[ctx.mode]  # type: ignore[index]
    if ctx.endpoint not in spec.endpoints:
        raise PermissionDenied(
            f"This API key is {mode_key(ctx.mode)}, which serves {_mode_endpoints(ctx.state, ctx.mode)}; "
            f"{ctx.endpoint} needs a key of another mode.",
            code="wrong_key_mode",
        )


# Deeper bodies are refused at parse time: orjson serializes at most 254 levels (the body goes
# upstream again, a level or two deeper) and the modes' recursive code must never meet Python's
# recursion limit. No API request comes near it (a Codex turn: about 12 levels).
MAX_JSON_DEPTH = 128


def _too_deep(node: dict[str, Any] | list[Any], budget: int) -> bool:
    """Whether ``node`` nests deeper than ``budget`` levels. Visits containers only: measured, about
    half the time orjson takes to parse a 40 KB Codex request, a sixth for a 650 KB one."""
    if budget == 0:
        return True
    for child in node.values() if type(node) is dict else node:
        kind = type(child)
        if (kind is dict or kind is list) and _too_deep(child, budget - 1):
            return True
    return False


def _deepest_path(node: Any, budget: int) -> list[str | int]:
    """The keys and indexes down to a point deeper than ``budget`` (the error path only)."""
    if budget == 0:
        return []
    items = node.items() if type(node) is dict else enumerate(node)
    for key, child in items:
        if isinstance(child, (dict, list)) and _too_deep(child, budget - 1):
            return [key, *_deepest_path(child, budget - 1)]
    return []


def _param(path: list[str | int]) -> str:
    text = str(path[0]) if path else ""
    for part in path[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def release_client_body(ctx: RequestContext) -> None:
    """Drop the client's body, raw and parsed, once the mode has built the upstream request.

    A long stream would otherwise keep both for its whole life (a Codex turn: 38 KB raw, about
    twice that parsed). ``ctx.request_bytes`` keeps the raw size; a mode keeps what it still needs
    (e.g. the input items it stores) in its own state.
    """
    ctx.body = None
    ctx.request.body = b""


def parse_body(request: Request) -> dict[str, Any]:
    raw = request.body
    if not raw:
        raise InvalidRequest("The request body is empty; send a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise InvalidRequest(f"The request body must be a JSON object, not {type(body).__name__}.")
    if _too_deep(body, MAX_JSON_DEPTH):
        path = _deepest_path(body, MAX_JSON_DEPTH)
        param = _param(path[:6]) + ("…" if len(path) > 6 else "")
        raise InvalidRequest(
            f"Invalid value for '{path[0]}': JSON nested more than {MAX_JSON_DEPTH} levels deep (at '{param}').",
            param=str(path[0]),
            code="nesting_too_deep",
        )
    return body


async def finish(ctx: RequestContext) -> None:
    """``request_finished``, carried to its end even when the client leaves meanwhile.

    Sanic cancels a request's task when its connection closes, and a client may close it the
    moment the last byte arrives, while an implementation still awaits (with Redis: the quota's
    count, the stream's slot). In a task of its own, shielded, the bookkeeping finishes either way.
    """
    await asyncio.shield(ctx.state.spawn(ctx.state.runner.call("request_finished", ctx)))


async def handle(request: Request, endpoint: Endpoint) -> HTTPResponse | None:
    ctx = new_context(request, endpoint)
    runner = ctx.state.runner
    try:
        return await runner.around_request(ctx, partial(_serve, ctx))
    except APIError as error:  # raised by a wrap_request implementation
        return error_response(ctx, error)
    finally:
        await finish(ctx)


async def _serve(ctx: RequestContext) -> HTTPResponse | None:
    """The chain inside the ``wrap_request`` middleware; errors become the client's response."""
    runner = ctx.state.runner
    try:
        await authorize(ctx)
        check_endpoint(ctx)
        ctx.request_bytes = len(ctx.request.body or b"")
        ctx.body = parse_body(ctx.request)
        refusal = await runner.call("admit_request", ctx)
        if refusal is not None:
            raise refusal
        ureq = await runner.call("transform_request", ctx)
        if ureq is None:
            raise APIError(f"no plugin handles {ctx.endpoint} for {ctx.mode} keys", status=500)
        release_client_body(ctx)
        ureq = ctx.upstream_request = await runner.call("prepare_upstream_request", ctx, request=ureq)
        ctx.stream = ureq.stream
        ctx.candidates = await runner.call("select_upstream", ctx) or []
        if ureq.stream:
            return await _stream(ctx)
        return await _complete(ctx)
    except APIError as error:
        return error_response(ctx, error)


async def handle_route(request: Request, route: Route, owner: str | None) -> HTTPResponse:
    """A mode's further route (``owner``: the mode; None: a core route any key may call)."""
    ctx = new_context(request, route.endpoint)
    runner = ctx.state.runner
    try:
        return await runner.around_request(ctx, partial(_serve_route, ctx, route, owner))
    except APIError as error:  # raised by a wrap_request implementation
        return error_response(ctx, error)
    finally:
        await finish(ctx)


async def _serve_route(ctx: RequestContext, route: Route, owner: str | None) -> HTTPResponse:
    try:
        if not route.public:
            await authorize(ctx)
            if owner is not None and ctx.mode != owner:
                about = route.about or f"{route.endpoint} belongs to the {owner} mode"
                raise PermissionDenied(
                    f"This API key is {mode_key(ctx.mode)}; {about}, which needs {mode_key(owner)}.",
                    code="wrong_key_mode",
                )
        else:
            # Public: anyone may call it, and a valid key still makes the answer personal.
            ctx.principal = await ctx.state.runner.call("authenticate", ctx)
            ctx.mode = owner
        refusal = await ctx.state.runner.call("admit_request", ctx)
        if refusal is not None:
            raise refusal
        result = await route.handler(ctx)
    except APIError as error:
        return error_response(ctx, error)
    ctx.status = result.status
    headers = _headers(ctx)
    headers.update(result.headers)
    return HTTPResponse(result.body, status=result.status, headers=headers, content_type=result.content_type)


def _headers(ctx: RequestContext) -> dict[str, str]:
    headers = {"x-request-id": ctx.request_id}
    if ctx.upstream_model:
        headers["x-llmgate-upstream-model"] = ctx.upstream_model
    headers.update(ctx.response_headers)
    return headers


async def _complete(ctx: RequestContext) -> HTTPResponse:
    response, _ = await open_upstream(ctx)
    release_upstream_body(ctx)  # no failover once an answer is open
    try:
        # The raw bytes as they came: the upstream is asked for identity encoding.
        raw = await response.read()
    except UpstreamUnreachable as exc:
        label = ctx.upstream.label if ctx.upstream else "?"
        raise UpstreamError(f"upstream {label} failed while answering: {scrub_secrets(str(exc))}") from None
    finally:
        await response.aclose()
    result: ClientResponse | None = await ctx.state.runner.call(
        "transform_response", ctx, status=response.status, body=raw
    )
    if result is None:
        result = ClientResponse(response.status, raw, response.content_type or "application/json")
    ctx.status = result.status
    headers = _headers(ctx)
    headers.update(result.headers)
    return HTTPResponse(result.body, status=result.status, headers=headers, content_type=result.content_type)


async def _stream(ctx: RequestContext) -> HTTPResponse | None:
    spec = ctx.state.runner.modes[ctx.mode]  # type: ignore[index]
    attempts = Attempts(ctx)
    body = aiter(attempts)
    try:
        # Until the status is committed, an upstream failure is still a proper HTTP error.
        first = b""
        if spec.commit_after_seconds is None:
            # Pull the first chunk before committing, so a stream that dies at once can still
            # fail over or become an error status. The mode's stream decides when that is: it
            # may send a keepalive of its own while the upstream is slow to answer.
            first = await anext(body, b"")
        else:
            opening = attempts.opening
            await asyncio.wait([opening], timeout=spec.commit_after_seconds)
            if opening.done() and opening.exception() is not None:
                raise opening.exception()  # type: ignore[misc]
        content_type = ctx.response_headers.pop("content-type", "text/event-stream")
        response = await ctx.request.respond(status=200, headers=_headers(ctx), content_type=content_type)
        try:
            if first:
                await response.send(first)
            async for chunk in body:
                await response.send(chunk)
            if attempts.rest is not None:  # the serving attempt, read directly once failover is over
                async for chunk in attempts.rest:
                    await response.send(chunk)
        except APIError as error:
            # The status is committed: the error can only travel as a last event. Modes normally
            # turn failures into their own terminal event before they get here.
            ctx.status = error.status
            await response.send(sse_data(error.body()))
        await response.eof()
        return None
    finally:
        await attempts.aclose()
