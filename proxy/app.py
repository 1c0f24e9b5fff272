"""The app factory: a Sanic app built from settings, with every enabled plugin wired in."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import traceback
from typing import Any

import orjson
from sanic import Request, Sanic
from sanic.exceptions import RequestTimeout, SanicException, ServiceUnavailable
from sanic.response import HTTPResponse

from config.settings import Settings
from proxy import pipeline
from proxy.context import ClientResponse, Endpoint, RequestContext, Route
from proxy.errors import APIError, NotFound
from proxy.logtext import log_block, log_value
from proxy.plugin_host import build_runner, model_apps
from proxy.security import SecretBox
from proxy.state import AppState
from proxy.storage.database import close_database, is_database_unavailable, open_database
from proxy.upstream import make_upstream_clients

log = logging.getLogger("llmgate")
_app_numbers = itertools.count(1)



async def list_models(ctx: RequestContext) -> ClientResponse:
    models = await ctx.state.runner.call("list_models", ctx) or []
    return ClientResponse(200, orjson.dumps({"object": "list", "data": models}))


MODELS_ROUTE = Route("GET", "/v1/models", list_models)


class BoundedRequest(Request):
    """A request whose body must arrive whole within ``REQUEST_TIMEOUT``.

    Sanic's own request timer restarts with every byte and, once the head is in, the body is
    read under the (long) response timeout, so a client trickling a body would hold a
    connection for as long as it likes. Sanic calls ``receive_body`` for every route.
    """

    async def receive_body(self) -> None:
        if self.body:
            return
        stream = self.stream
        if stream is not None and stream.request_body is True and len(stream.recv_buffer) >= (stream.request_bytes_left or 0):
            # The whole (Content-Length) body is already here, as a small request's usually is:
            # nothing to wait for, so no timer.
            await super().receive_body()
            return
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for starts a task per request.
            async with asyncio.timeout(self.app.config.REQUEST_TIMEOUT):
                await super().receive_body()
        except TimeoutError:
            if self.stream is not None:
                # Close after the 408 instead of draining the rest of a body that is not coming.
                self.stream.keep_alive = False
                self.stream.request_body = None
            raise RequestTimeout("The request body did not arrive in time.") from None


def create_app(settings: Settings, *, extra_plugins: dict[str, Any] | None = None, name: str | None = None) -> Sanic:
    runner, plugin_infos = build_runner(settings, extra_plugins)
    state = AppState(settings, runner, plugin_infos, SecretBox(settings.secret_bytes))
    # Sanic keeps a registry of app names per process; tests build many apps.
    app = Sanic(name or f"llmgate_{next(_app_numbers)}", request_class=BoundedRequest)
    app.ctx.state = state
    # For proxy.connections.GatewayProtocol: open connections per peer address on this worker.
    # Behind a proxy every peer is the proxy, so the cap is left to it.
    behind_proxy = bool(settings.proxies_count or settings.real_ip_header or settings.forwarded_secret)
    app.ctx.max_connections_per_ip = 0 if behind_proxy else settings.max_connections_per_ip
    app.ctx.open_connections = {}
    _configure(app, settings)
    _add_api_routes(app, state)
    runner.call_sync("register_routes", app=app, settings=settings)
    _add_fallback_routes(app)
    app.error_handler.add(Exception, _render_exception)
    app.register_listener(_start_worker, "before_server_start")
    app.register_listener(_mark_ready, "after_server_start")
    app.register_listener(_stop_worker, "after_server_stop")
    return app


def _configure(app: Sanic, settings: Settings) -> None:
    config = app.config
    config.REQUEST_MAX_SIZE = settings.max_body_bytes
    config.REQUEST_TIMEOUT = settings.request_timeout  # slow clients: see BoundedRequest
    # Sanic cuts a response that has sent nothing for this long: a non-streaming answer waits for
    # the whole generation, which the upstream read timeout already bounds, and a stream between
    # two chunks. The floor keeps a loaded event loop (or a short read timeout) from cutting a
    # healthy stream: the upstream's own timeout ends a stalled one with a proper error first.
    config.RESPONSE_TIMEOUT = max(60.0, settings.upstream_read_timeout * 2 + settings.upstream_connect_timeout)
    config.KEEP_ALIVE_TIMEOUT = 75
    config.GRACEFUL_SHUTDOWN_TIMEOUT = settings.graceful_shutdown_seconds
    config.ACCESS_LOG = settings.access_log
    # request.client_ip (throttles, access log) reads forwarding headers only as configured.
    config.PROXIES_COUNT = settings.proxies_count or None
    config.REAL_IP_HEADER = settings.real_ip_header or None
    config.FORWARDED_SECRET = settings.forwarded_secret or None
    config.AUTO_EXTEND = False  # the dashboard plugin extends explicitly where it needs sanic-ext
    config.FALLBACK_ERROR_FORMAT = "json"
    config.MOTD = False


def _add_api_routes(app: Sanic, state: AppState) -> None:
    endpoints: dict[Endpoint, None] = {}
    for spec in state.runner.modes.values():
        endpoints.update(dict.fromkeys(spec.endpoints))
    for endpoint in endpoints:

        async def api_handler(request: Request, _endpoint: Endpoint = endpoint) -> HTTPResponse | None:
            return await pipeline.handle(request, _endpoint)

        app.add_route(api_handler, endpoint.path, methods=[endpoint.method], name=f"api_{endpoint.path.strip('/').replace('/', '_')}")

    routes: list[tuple[Route, str | None]] = [(MODELS_ROUTE, None)]
    for spec in state.runner.modes.values():
        routes += [(route, spec.name) for route in spec.routes]
    for route, owner in routes:

        async def route_handler(
            request: Request, _route: Route = route, _owner: str | None = owner, **_: str
        ) -> HTTPResponse:
            return await pipeline.handle_route(request, _route, _owner)

        name = f"api_{route.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', route.path.lower()).strip('_')}"
        app.add_route(route_handler, route.path, methods=[route.method], name=name)

    async def healthz(request: Request) -> HTTPResponse:
        ready = request.app.ctx.state.ready
        return HTTPResponse(
            orjson.dumps({"status": "ok" if ready else "starting"}),
            status=200 if ready else 503,
            content_type="application/json",
        )

    app.add_route(healthz, "/healthz", methods=["GET"], name="healthz")


def _add_fallback_routes(app: Sanic) -> None:
    async def unknown_api_path(request: Request, path: str) -> HTTPResponse:
        raise NotFound(f"Unknown endpoint: {request.method} {request.path}", code="unknown_url")

    app.add_route(
        unknown_api_path,
        "/v1/<path:path>",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
        name="api_unknown",
    )


def _render_exception(request: Request, exception: Exception) -> HTTPResponse:
    """API paths always answer in the OpenAI error shape; other paths get Sanic's rendering."""
    if isinstance(exception, APIError):
        error = exception
    elif isinstance(exception, SanicException):
        status = getattr(exception, "status_code", 500) or 500
        message = str(exception) or "Request failed"
        if status == 404:
            message = f"Unknown endpoint: {request.method} {request.path}"
        elif status == 405:
            message = f"Method {request.method} is not allowed on {request.path}"
        elif status == 413 and "header" in message.lower():
            limit = request.app.config.REQUEST_MAX_HEADER_SIZE
            message = f"The request headers are larger than this server's limit of {limit} bytes."
        elif status == 413:
            limit = request.app.config.REQUEST_MAX_SIZE
            message = f"The request body is larger than this server's limit of {limit} bytes."
        error_type = "invalid_request_error" if 400 <= status < 500 else "server_error"
        code = {413: "payload_too_large", 404: "unknown_url", 408: "request_timeout"}.get(status)
        error = APIError(message, status=status, type=error_type, code=code)
    elif is_database_unavailable(exception):
        # Transient: the database is restarting or unreachable; the pool reconnects by itself.
        log.warning("database unavailable on %s %s: %r", request.method, log_value(request.path), exception)
        error = APIError(
            "The gateway's database is unavailable at the moment; try again shortly.",
            status=503, type="server_error", code="service_unavailable", headers={"retry-after": "2"},
        )  # fmt: skip
        exception = ServiceUnavailable(error.message, headers=error.headers)
    else:
        log.error(
            "unhandled error on %s %s\n%s", request.method, log_value(request.path), log_block(traceback.format_exc())
        )
        error = APIError("The gateway failed to handle this request.", status=500, type="server_error")
    # "*": the request line never arrived whole (a protocol error), so it may well be an API call.
    if not request.path.startswith(("/v1", "*")) and not isinstance(exception, APIError):
        return request.app.error_handler.default(request, exception)
    return HTTPResponse(error.body(), status=error.status, headers=error.headers, content_type="application/json")


async def _start_worker(app: Sanic) -> None:
    state: AppState = app.ctx.state
    await open_database(state.settings, model_apps(state.runner))
    clients = make_upstream_clients(state.settings)
    state.proxy, state.http = clients.proxy, clients.http
    await state.runner.call("startup", state=state)


async def _mark_ready(app: Sanic) -> None:
    # Not before: Sanic installs its SIGTERM handler between listening and this event, and a
    # supervisor that stops the gateway as soon as /healthz says ok must get a graceful stop.
    app.ctx.state.ready = True


async def _stop_worker(app: Sanic) -> None:
    state: AppState = app.ctx.state
    state.ready = False
    await state.runner.call("shutdown", state=state)
    await state.stop_background()
    if state.http is not None:
        await state.http.aclose()
    await close_database()
