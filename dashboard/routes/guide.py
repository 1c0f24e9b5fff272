"""The service guide, filled in with this server's URL; readable before signing in."""

from __future__ import annotations

from sanic import Request
from sanic.response import HTTPResponse

from dashboard import sessions
from dashboard.routes.keys import MODE_HINTS
from dashboard.web import render, server_url, settings_of, state_of
from plugins.shared_upstream import context_warning

CODEX_CONFIG_PATH = "/v1/codex/config.toml"


def has_route(request: Request, path: str) -> bool:
    wanted = path.strip("/")
    return any(route.path.strip("/") == wanted for route in request.app.router.routes)


def codex_setup_text(request: Request, base_url: str, model: str) -> tuple[str, str | None]:
    """The emulator's config.toml and its one-line install when the emulator plugin is there.

    Otherwise a minimal provider entry and no install line.
    """
    if "emulator" in state_of(request).runner.modes:
        try:
            from plugins.emulator import config as emulator_config
            from plugins.emulator.codex_setup import config_toml, install_command

            return config_toml(base_url, emulator_config.load(settings_of(request))), install_command(base_url)
        except (ImportError, AttributeError, TypeError, ValueError):  # an older or changed emulator
            pass
    minimal = (
        f'model = "{model}"\n'
        'model_provider = "llmgate"\n\n'
        "[model_providers.llmgate]\n"
        'name = "llmgate"\n'
        f'base_url = "{base_url}/v1"\n'
        'env_key = "LLMGATE_API_KEY"\n'
        'wire_api = "responses"\n'
    )
    return minimal, None


async def guide_page(request: Request) -> HTTPResponse:
    request.ctx.session = await sessions.load_session(request)
    url = server_url(request)
    settings = settings_of(request)
    modes = state_of(request).runner.modes
    emulator_models = list(settings.plugin("emulator").get("models", ["gpt-5.4"])) or ["gpt-5.4"]
    codex_config, codex_install = codex_setup_text(request, url, emulator_models[0])
    return render(
        request, "guide.html",
        server_url=url,
        modes=[
            {"name": name, "hint": MODE_HINTS.get(name, spec.description), "description": spec.description,
             "endpoints": [str(endpoint) for endpoint in spec.endpoints]}
            for name, spec in sorted(modes.items(), key=lambda item: (item[0] != "emulator", item[0]))
        ],
        default_model=settings.default_model,
        emulator_model=emulator_models[0],
        codex_config=codex_config,
        codex_install=codex_install,
        codex_config_url=url + CODEX_CONFIG_PATH if has_route(request, CODEX_CONFIG_PATH) else None,
        # A self-hosted shared upstream without upstream.num_ctx cuts Codex's prompts: say so.
        context_unset=context_warning(settings) is not None,
    )


ROUTES = [
    (guide_page, "/guide", ["GET"]),
]
