"""The shared upstream configured on the server: the last word of ``select_upstream``."""

from __future__ import annotations

from urllib.parse import urlsplit

from config.settings import Settings
from proxy.context import RequestContext, Upstream
from proxy.hookspecs import hookimpl

NAME = "shared_upstream"


def is_cloud_url(url: str, cloud_url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host == (urlsplit(cloud_url).hostname or "") or host.endswith("ollama.com")


def shared_upstream(settings: Settings) -> Upstream:
    return Upstream(
        label="shared",
        base_url=settings.upstream_url,
        api_key=settings.upstream_api_key or None,
        kind="shared",
        is_cloud=is_cloud_url(settings.upstream_url, settings.ollama_cloud_url),
    )


@hookimpl(trylast=True)
def select_upstream(ctx: RequestContext) -> list[Upstream]:
    upstream = ctx.state.services.get(NAME)
    if upstream is None:
        upstream = ctx.state.services[NAME] = shared_upstream(ctx.settings)
    return [upstream]
