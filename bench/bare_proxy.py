"""python -m bench.bare_proxy: the reference row, a bare Sanic + aiohttp passthrough.

No authentication, no database, no plugins, no logging: every ``POST`` is sent to the same path on
the upstream through one pooled ``aiohttp.ClientSession`` per worker, the request body relayed as
it arrives and the response (whole answer or stream) relayed chunk by chunk as the upstream sends
it. It is the floor a Python gateway on the gateway's own stack (Sanic, aiohttp, uvloop) can reach
against the same fake upstream, so the benchmark measures it beside the gateway in the same run.

Benchmark code only: the product never imports it.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import aiohttp
from sanic import Request, Sanic
from sanic.response import HTTPResponse, text

# Hop-by-hop and framing headers: Sanic sets its own framing on the way out.
_DROPPED = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host"})


def create_app(upstream_url: str) -> Sanic:
    app = Sanic("bench_bare_proxy")
    app.config.AUTO_EXTEND = False
    app.config.ACCESS_LOG = False
    app.config.MOTD = False
    app.config.KEEP_ALIVE_TIMEOUT = 75
    app.config.RESPONSE_TIMEOUT = 600  # 500 tokens half a second apart outlive Sanic's default 60 s

    @app.before_server_start
    async def open_session(app: Sanic) -> None:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=75)  # unbounded, like the gateway's pool
        app.ctx.session = aiohttp.ClientSession(upstream_url, connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    @app.after_server_stop
    async def close_session(app: Sanic) -> None:
        await app.ctx.session.close()

    @app.get("/healthz")
    async def healthz(request: Request) -> HTTPResponse:
        return text("ok")

    @app.post("/<path:path>", stream=True)
    async def relay(request: Request, path: str) -> None:
        async def body() -> AsyncIterator[bytes]:
            while (chunk := await request.stream.read()) is not None:  # type: ignore[union-attr]
                yield chunk

        headers = {"Content-Type": request.headers.get("content-type", "application/json")}
        if "content-length" in request.headers:  # relay the body unchunked, as the client framed it
            headers["Content-Length"] = request.headers["content-length"]
        async with request.app.ctx.session.post("/" + path, data=body(), headers=headers) as upstream:
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in _DROPPED}
            if upstream.content_length is not None:
                out["content-length"] = str(upstream.content_length)
            response = await request.respond(status=upstream.status, headers=out)
            async for chunk in upstream.content.iter_any():
                await response.send(chunk)
            await response.eof()

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_proxy", description=__doc__)
    parser.add_argument("--upstream", required=True, help="base URL of the upstream, e.g. http://127.0.0.1:11434")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backlog", type=int, default=100, help="listen backlog (Sanic's default is 100)")
    args = parser.parse_args(argv)
    app = create_app(args.upstream)
    app.prepare(host=args.host, port=args.port, backlog=args.backlog, single_process=True, access_log=False, motd=False)
    Sanic.serve_single(app)  # one worker, like the gateway row it is compared with


if __name__ == "__main__":
    main()
