"""``GET /openapi.json``: the gateway's API described in OpenAPI 3.1 (see ``plugins.openapi_document``).

Only the modes enabled on this server are described. The document needs no API key: it says
nothing a client could not learn from the endpoints' own error messages.
"""

from __future__ import annotations

import orjson
from sanic import Request, Sanic
from sanic.response import HTTPResponse

from config.settings import Settings
from proxy.api import hookimpl

from . import openapi_document

PATH = "/openapi.json"


@hookimpl
def register_routes(app: Sanic, settings: Settings) -> None:
    # Built per request from the modes in force: a mode plugin may adjust its spec in its own
    # register_routes, which can run after this one.
    async def openapi(request: Request) -> HTTPResponse:
        modes = request.app.ctx.state.runner.modes
        return HTTPResponse(orjson.dumps(openapi_document.build(modes)), content_type="application/json")

    app.add_route(openapi, PATH, methods=["GET"], name="openapi_document")
