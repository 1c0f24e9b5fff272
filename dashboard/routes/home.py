"""The overview: which upstream and model serve this user, and the model picker."""

from __future__ import annotations

import asyncio
import logging

from sanic import Request
from sanic.response import HTTPResponse, redirect

from dashboard import ollama
from dashboard.web import PREFIX, form_value, render, settings_of, signed_in, state_of, user_id
from plugins.ollama_keys.candidates import key_upstream
from plugins.ollama_keys.models import OllamaKey
from plugins.shared_upstream import shared_upstream
from plugins.upstream_models import upstream_tags
from proxy.api import APIError, ApiKey, Upstream, log_value, scrub_secrets, set_selected_model, user_settings

log = logging.getLogger("llmgate.dashboard")
MODELS_TIMEOUT = 3.0  # the picker falls back to free text rather than keep the page waiting


async def _models_upstream(request: Request, preferred: OllamaKey | None) -> Upstream:
    settings = settings_of(request)
    if preferred is not None:
        secret = state_of(request).secret_box.decrypt(preferred.secret_encrypted)
        if secret:
            return key_upstream(preferred, secret, settings.ollama_cloud_url)
    return shared_upstream(settings)


async def _model_names(request: Request, upstream: Upstream) -> tuple[list[str], str | None]:
    try:
        models = await asyncio.wait_for(upstream_tags(state_of(request), upstream), MODELS_TIMEOUT)
    except (APIError, TimeoutError) as error:
        return [], f"The model list could not be loaded ({error}); type a model name instead."
    except Exception as error:  # an upstream answering nonsense must not break the page
        log.warning(
            "model list from %s failed: %s", log_value(upstream.label), log_value(scrub_secrets(repr(error), upstream.api_key))
        )
        return [], "The model list could not be loaded; type a model name instead."
    return sorted(str(model["id"]) for model in models), None


async def _page(request: Request, status: int = 200, error: str | None = None) -> HTTPResponse:
    uid = user_id(request)
    choice = await user_settings(uid)
    svc = ollama.service(state_of(request))
    preferred = await svc.preferred_key(uid) if svc is not None else None
    upstream = await _models_upstream(request, preferred)
    models, models_error = await _model_names(request, upstream)
    return render(
        request, "home.html", status=status, error=error,
        selected_model=choice.selected_model,
        default_model=settings_of(request).default_model,
        preferred=preferred,
        ollama_enabled=ollama.service(state_of(request)) is not None,
        ollama_key_count=await OllamaKey.filter(user_id=uid).count(),
        api_key_count=await ApiKey.filter(user_id=uid, revoked_at=None).count(),
        models=models, models_error=models_error,
        quotas=await _quotas(request, uid),
    )


async def _quotas(request: Request, uid: int) -> list:  # type: ignore[type-arg]
    """The user's token quotas and what is left (empty when the quotas plugin is off)."""
    service = state_of(request).services.get("quotas")
    return await service.status(uid) if service is not None else []


@signed_in
async def home(request: Request) -> HTTPResponse:
    return await _page(request)


@signed_in
async def choose_model(request: Request) -> HTTPResponse:
    model = form_value(request, "model").strip()
    if len(model) > 200 or any(ch.isspace() for ch in model):
        return await _page(request, 400, "Model names have no spaces and are at most 200 characters.")
    await set_selected_model(user_id(request), model or None)
    state_of(request).invalidate_auth()  # cached principals carry the selected model
    return redirect(f"{PREFIX}/?done=model")


async def root(request: Request) -> HTTPResponse:
    return redirect(PREFIX + "/")


ROUTES = [
    (home, "/", ["GET"]),
    (choose_model, "/model", ["POST"]),
]
