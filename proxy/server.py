"""Running the gateway: migrate once, then serve in one process or Sanic's worker processes."""

from __future__ import annotations

import asyncio
import logging

from sanic import Sanic
from sanic.worker.loader import AppLoader

from config.settings import Settings, load_settings
from proxy.app import create_app
from proxy.connections import GatewayProtocol
from proxy.log_output import configure_logging
from proxy.memory import fix_mmap_threshold
from proxy.metrics_dir import SharedMetricsDir
from proxy.plugin_host import build_runner, model_apps
from proxy.storage.database import migrate, secure_data_dir


def app_from_environment() -> Sanic:
    """Factory for worker processes: they rebuild settings from the same files and variables."""
    configure_logging()
    fix_mmap_threshold()
    return create_app(load_settings(), name="llmgate")


def serve(settings: Settings) -> None:
    """Migrate, log what the operator should know (once, not per worker), then serve."""
    configure_logging()
    fix_mmap_threshold()
    log = logging.getLogger("llmgate")
    secure_data_dir(settings.data_dir)
    runner, _ = build_runner(settings)
    applied = asyncio.run(migrate(settings.database_url, plugin_apps=model_apps(runner)))
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    if settings.workers <= 1:
        app = create_app(settings, name="llmgate")
        app.prepare(
            host=settings.host, port=settings.port, single_process=True, access_log=settings.access_log,
            motd=False, protocol=GatewayProtocol, backlog=settings.listen_backlog,
        )
        Sanic.serve_single(app)
        return
    # Before the workers start: each reads the variable when it first imports prometheus_client.
    metrics_dir = SharedMetricsDir(settings.data_dir)
    try:
        loader = AppLoader(factory=app_from_environment)
        app = loader.load()
        app.prepare(
            host=settings.host, port=settings.port, workers=settings.workers, access_log=settings.access_log,
            motd=False, protocol=GatewayProtocol, backlog=settings.listen_backlog,
        )
        Sanic.serve(primary=app, app_loader=loader)
    finally:
        metrics_dir.close()
