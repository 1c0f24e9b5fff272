"""The real gateway on a real loopback port, in a background thread with its own event loop.

Clients in the test (the openai SDK, httpx) talk to it over sockets exactly as users do.
``run`` executes a coroutine on the gateway's loop, where its database connection lives.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable
from typing import Any

from config.settings import Settings
from proxy.app import create_app
from proxy.connections import GatewayProtocol
from proxy.plugin_host import model_apps
from proxy.state import AppState
from proxy.storage.database import migrate


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GatewayServer:
    def __init__(self, settings: Settings, extra_plugins: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.port = free_port()
        self.app = create_app(settings, extra_plugins=extra_plugins)
        # TouchUp rewrites Sanic's shared HTTP classes per app; with several apps in one test
        # process it would rewrite rewritten code. Production runs one app per process.
        self.app.config.TOUCHUP = False
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="gateway", daemon=True)
        self._server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state(self) -> AppState:
        return self.app.ctx.state

    def run(self, awaitable: Awaitable[Any], timeout: float = 30) -> Any:
        """Await ``awaitable`` (a coroutine or an ORM query) on the gateway's loop."""

        async def wait() -> Any:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wait(), self.loop).result(timeout)

    def start(self) -> GatewayServer:
        self._thread.start()
        self.run(self._start())
        return self

    async def _start(self) -> None:
        await migrate(self.settings.database_url, plugin_apps=model_apps(self.app.ctx.state.runner))
        self._server = await self.app.create_server(
            host="127.0.0.1", port=self.port, return_asyncio_server=True, access_log=False,
            protocol=GatewayProtocol,
        )
        await self._server.startup()
        await self._server.before_start()
        await self._server.after_start()

    async def _stop(self) -> None:
        await self._server.before_stop()
        self._server.close()
        await self._server.wait_closed()
        for connection in list(self._server.connections):
            connection.close()
        await asyncio.sleep(0.05)  # let the closed connections' tasks finish on this loop
        await self._server.after_stop()

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        if self._server is not None:
            self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
