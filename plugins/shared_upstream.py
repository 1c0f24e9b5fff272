"""The shared upstream configured on the server: the last word of ``select_upstream``."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from sanic import Sanic

from config.settings import Settings
from proxy.api import RequestContext, Upstream, hookimpl

NAME = "shared_upstream"
# Names a local Ollama daemon maps to its cloud models; Ollama Cloud itself knows only the bare name.
CLOUD_MODEL_SUFFIXES = (":cloud", "-cloud")


def is_cloud_url(url: str, cloud_url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host == (urlsplit(cloud_url).hostname or "") or host.endswith("ollama.com")


def shared_upstream(settings: Settings) -> Upstream:
    num_ctx = settings.upstream_num_ctx
    return Upstream(
        label="shared",
        base_url=settings.upstream_url,
        api_key=settings.upstream_api_key or None,
        drop_model_suffixes=CLOUD_MODEL_SUFFIXES if is_cloud_url(settings.upstream_url, settings.ollama_cloud_url) else (),
        # Ollama runs a model at the num_ctx of the request that loaded it and reloads it when the
        # value changes, so every chat asks for the same one.
        chat_options=(("num_ctx", num_ctx),) if num_ctx > 0 else (),
    )


def context_warning(settings: Settings) -> str | None:
    """The start-up warning for a self-hosted shared upstream left at its own context window."""
    if settings.upstream_num_ctx > 0 or is_cloud_url(settings.upstream_url, settings.ollama_cloud_url):
        return None
    return (
        f"upstream.num_ctx is not set: the Ollama at {settings.upstream_url} runs models at its own default "
        "context (4k-32k tokens unless OLLAMA_CONTEXT_LENGTH says otherwise) and silently drops the start of "
        "longer prompts; Codex needs 64k or more: set LLMGATE_UPSTREAM_NUM_CTX (e.g. 65536)"
    )


@hookimpl
def register_routes(app: Sanic, settings: Settings) -> None:
    # The operator is told once, not once per worker: by the main process when there are workers.
    async def warn(app: Sanic) -> None:
        text = context_warning(settings)
        if text:
            logging.getLogger("llmgate").warning("%s", text)

    app.register_listener(warn, "main_process_start" if settings.workers > 1 else "before_server_start")


@hookimpl(trylast=True)
def select_upstream(ctx: RequestContext) -> list[Upstream]:
    upstream = ctx.state.services.get(NAME)
    if upstream is None:
        upstream = ctx.state.services[NAME] = shared_upstream(ctx.settings)
    return [upstream]
