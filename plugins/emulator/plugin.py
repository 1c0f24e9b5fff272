"""Emulator mode: the OpenAI Responses API (``POST /v1/responses``) over Ollama's ``/api/chat``.

Emulator keys talk to the gateway as if it were OpenAI serving the emulated names (default
``gpt-5.4``). A request for an emulated name, or for no model at all, is served by the user's
selected model (else the server default); any other model name is passed through as the Ollama
model, so SDK users can address a model directly. The Response always names the model the client
asked for; the core sends the upstream model actually used as ``x-llmgate-upstream-model``.

The translation itself is pure and lives beside this module (request_translation,
stream_translation); this plugin wires it into the hook chain, adds stored responses
(``store``, ``previous_response_id``, ``GET``/``DELETE /v1/responses/{id}``) and the Connect-Codex
endpoints. See docs/emulator.md for the field-by-field mapping.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sanic import Request, Sanic
from sanic.response import HTTPResponse

from config.settings import Settings
from proxy.context import ClientResponse, Endpoint, ModeSpec, RequestContext, Upstream, UpstreamRequest
from proxy.errors import APIError, NotFound, PermissionDenied
from proxy.hookspecs import hookimpl
from proxy.model_choice import chosen_model
from proxy.pipeline import authorize, error_response, mode_key, new_context
from proxy.state import AppState
from proxy.storage.database import PluginModels

from . import codex_setup, context_fit, stored
from .config import EmulatorSettings, load
from .field_checks import opt_str
from .input_translation import reference_ids, translate_input
from .relay import relay
from .request_translation import TranslatedRequest, translate_request
from .sealing import ThinkingSealer
from .stream_translation import ResponseEventStream

NAME = "emulator"
RESPONSES = Endpoint("POST", "/v1/responses")
STORED_PATH = "/v1/responses/<response_id:str>"
MODEL_CREATED = 1_772_668_800  # a fixed date: model objects must not change between calls


@dataclass(slots=True)
class Turn:
    """What the later hooks of one request need from ``transform_request``."""

    translated: TranslatedRequest
    response_id: str
    model: str  # the name the client asked for, echoed in the Response
    store: bool
    previous_response_id: str | None
    conversation: list[dict[str, Any]]  # upstream messages without the instructions (for storing)
    input_items: list[Any]  # the request's input items, stored beside the response so ids resolve later
    prompt_bytes: int | None = None  # measured once, when a candidate's window calls for it


def with_instructions(instructions: str | None, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Instructions first, joined with a leading system message as the input translation does."""
    if not instructions:
        return messages
    if messages and messages[0]["role"] == "system" and "images" not in messages[0]:
        first = messages[0]
        text = f"{instructions}\n\n{first['content']}" if first["content"] else instructions
        return [{**first, "content": text}, *messages[1:]]
    return [{"role": "system", "content": instructions}, *messages]


def _json(body: Any, status: int = 200, ctx: RequestContext | None = None) -> HTTPResponse:
    headers = {"x-request-id": ctx.request_id} if ctx else {}
    return HTTPResponse(orjson.dumps(body), status=status, headers=headers, content_type="application/json")


class EmulatorMode:
    def __init__(self) -> None:
        self.config = EmulatorSettings()
        self.sealer: ThinkingSealer | None = None
        self.instructions = ""  # read from the settings in register_routes

    # --- set-up -------------------------------------------------------------------------

    @hookimpl
    def register_models(self) -> PluginModels:
        # Stored responses and their items (store: true).
        return PluginModels(modules=("plugins.emulator.models",), migrations=Path(__file__).parent / "migrations")

    @hookimpl
    def register_modes(self) -> list[ModeSpec]:
        return [
            ModeSpec(
                name=NAME,
                endpoints=(RESPONSES,),
                description="The OpenAI Responses API (POST /v1/responses) over Ollama, for Codex and the openai SDK.",
                plugin=self,
                # The settings are not known yet: register_routes puts the configured value in.
                commit_after_seconds=self.config.commit_after_seconds,
            )
        ]

    @hookimpl
    def register_routes(self, app: Sanic, settings: Settings) -> None:
        self.config = load(settings)
        self.sealer = ThinkingSealer(settings.secret_bytes)
        self.instructions = codex_setup.base_instructions(settings.plugin(NAME))
        runner = app.ctx.state.runner
        spec = runner.modes.get(NAME)
        if spec is not None and spec.commit_after_seconds != self.config.commit_after_seconds:
            runner.set_modes({**runner.modes, NAME: dataclasses.replace(spec, commit_after_seconds=self.config.commit_after_seconds)})
        app.add_route(self._get_stored, STORED_PATH, methods=["GET"], name="emulator_get_response")
        app.add_route(self._delete_stored, STORED_PATH, methods=["DELETE"], name="emulator_delete_response")
        app.add_route(self._codex_config, codex_setup.CONFIG_PATH, methods=["GET"], name="emulator_codex_config")
        app.add_route(self._codex_catalog, codex_setup.CATALOG_PATH, methods=["GET"], name="emulator_codex_catalog")

    @hookimpl
    def startup(self, state: AppState) -> None:
        state.every(self.config.purge_every_seconds, stored.purge_expired)

    # --- the request ----------------------------------------------------------------------

    @hookimpl
    async def transform_request(self, ctx: RequestContext) -> UpstreamRequest | None:
        if ctx.endpoint != RESPONSES:
            return None
        body = ctx.body
        assert body is not None and self.sealer is not None
        requested = opt_str(body.get("model"), "model")
        if requested is None or requested in self.config.models:
            upstream_model = chosen_model(ctx)
        else:
            upstream_model = requested
        # All item_reference ids of the request in one query; none (Codex, store: false) costs nothing.
        wanted = reference_ids(body.get("input"))
        references = None
        if wanted:
            references = await stored.referenced_items(ctx.user_id, wanted)  # type: ignore[arg-type]
        translated = translate_request(
            body, upstream_model=upstream_model, sealer=self.sealer, references=references
        )
        echo = translated.echo
        previous_id = echo["previous_response_id"]
        store = bool(echo["store"])
        conversation: list[dict[str, Any]] = []
        if previous_id is not None or store:
            # Keep the instructions out of the conversation that is stored and continued: OpenAI
            # does not carry them over to the next response.
            history = await stored.conversation(ctx.user_id, previous_id) if previous_id else []  # type: ignore[arg-type]
            own = translated.chat["messages"]
            if echo["instructions"]:
                own = translate_input(
                    None,
                    body.get("input"),
                    tool_map=translated.tool_map,
                    sealer=self.sealer,
                    references=references,
                )
            conversation = history + own
            translated.chat["messages"] = with_instructions(echo["instructions"], conversation)
        ctx.meta[NAME] = Turn(
            translated=translated,
            response_id="resp_" + uuid.uuid4().hex,
            model=requested or self.config.default_model,
            store=store,
            previous_response_id=previous_id,
            conversation=conversation,
            input_items=body["input"] if store and isinstance(body.get("input"), list) else [],
        )
        return UpstreamRequest("/api/chat", translated.chat, stream=translated.stream)

    @hookimpl(tryfirst=True)  # before a key plugin admits the attempt: a refusal must not hold a key
    def upstream_attempt(self, ctx: RequestContext, upstream: Upstream) -> bool | None:
        """Refuse a prompt that clearly cannot fit this candidate's window (see context_fit)."""
        turn: Turn | None = ctx.meta.get(NAME)
        if turn is None:
            return None
        model = turn.translated.chat["model"]
        window = codex_setup.known_context_window(ctx.state, upstream, model)
        if window is None:
            return None
        if turn.prompt_bytes is None:
            client_bytes = len(ctx.request.body or b"")
            if not turn.previous_response_id and context_fit.surely_fits(client_bytes, window):
                return None
            turn.prompt_bytes = context_fit.prompt_bytes(turn.translated.chat)
        error = context_fit.context_exceeded(turn.prompt_bytes, window, upstream, model)
        if error is not None:
            raise error
        return None

    def _events(self, turn: Turn) -> ResponseEventStream:
        assert self.sealer is not None
        return ResponseEventStream(
            response_id=turn.response_id,
            model=turn.model,
            echo=turn.translated.echo,
            tool_map=turn.translated.tool_map,
            sealer=self.sealer,
            include_encrypted=turn.translated.include_encrypted,
        )

    async def _keep(self, ctx: RequestContext, turn: Turn, response: dict[str, Any]) -> None:
        if not turn.store or ctx.principal is None:
            return
        assert self.sealer is not None
        answer = stored.answer_messages(response.get("output") or [], turn.translated.tool_map, self.sealer)
        await stored.save(
            ctx.state,
            user_id=ctx.principal.user_id,
            response=response,
            messages=turn.conversation + answer,
            previous_response_id=turn.previous_response_id,
            retention_hours=self.config.store_retention_hours,
            input_items=turn.input_items,
        )

    @hookimpl
    def stream_transform_response(self, ctx: RequestContext, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes] | None:
        turn: Turn | None = ctx.meta.get(NAME)
        if turn is None:
            return None

        async def keep(response: dict[str, Any]) -> None:
            await self._keep(ctx, turn, response)

        return relay(ctx, stream, self._events(turn), heartbeat_seconds=self.config.heartbeat_seconds, on_final=keep)

    @hookimpl
    async def transform_response(self, ctx: RequestContext, status: int, body: bytes) -> ClientResponse | None:
        turn: Turn | None = ctx.meta.get(NAME)
        if turn is None:
            return None
        assert self.sealer is not None
        try:
            chunk = orjson.loads(body)
        except orjson.JSONDecodeError:
            chunk = {"error": f"upstream sent an answer that is not JSON: {body[:200]!r}"}
        if not isinstance(chunk, dict):
            chunk = {"error": "upstream sent an answer that is not a JSON object"}
        # The same event stream as the streaming path, fed one whole answer, so both agree.
        events = self._events(turn)
        events.feed(chunk)
        events.finish()
        response = events.response
        usage = response.get("usage")
        if usage:
            ctx.usage.input_tokens = usage["input_tokens"]
            ctx.usage.output_tokens = usage["output_tokens"]
        await self._keep(ctx, turn, response)
        if response["status"] == "failed":
            # Without a stream there is no response.failed event: the failure is an HTTP error, with
            # the status its code calls for.
            error = response["error"] or {}
            code = error.get("code") or "server_error"
            status_for = {"context_length_exceeded": 400, "rate_limit_exceeded": 429, "server_is_overloaded": 503}
            failure = APIError(
                error.get("message") or "the upstream failed", status=status_for.get(code, 502),
                type="invalid_request_error" if code == "context_length_exceeded" else "server_error", code=code,
                headers={"retry-after": "2"} if code == "rate_limit_exceeded" else None,
            )  # fmt: skip
            return ClientResponse(failure.status, failure.body(), headers=failure.headers)
        return ClientResponse(200, orjson.dumps(response))

    @hookimpl
    def list_models(self, ctx: RequestContext) -> list[dict[str, Any]]:
        return [
            {"id": name, "object": "model", "created": MODEL_CREATED, "owned_by": "llmgate"}
            for name in self.config.models
        ]

    # --- stored responses -------------------------------------------------------------------

    async def _owner(self, request: Request, method: str) -> RequestContext:
        ctx = new_context(request, Endpoint(method, "/v1/responses/{response_id}"))
        await authorize(ctx)
        if ctx.mode != NAME:
            raise PermissionDenied(
                f"This API key is {mode_key(ctx.mode)}; stored responses belong to the Responses API, "
                "which needs an emulator key.",
                code="wrong_key_mode",
            )
        return ctx

    @staticmethod
    def _not_found(response_id: str) -> NotFound:
        return NotFound(f"No response found with id '{response_id}'.", param="response_id", code="response_not_found")

    async def _get_stored(self, request: Request, response_id: str) -> HTTPResponse:
        ctx = None
        try:
            ctx = await self._owner(request, "GET")
            response = await stored.fetch(ctx.user_id, response_id)  # type: ignore[arg-type]
            if response is None:
                raise self._not_found(response_id)
        except APIError as error:
            return error_response(ctx, error)
        return _json(response, ctx=ctx)

    async def _delete_stored(self, request: Request, response_id: str) -> HTTPResponse:
        ctx = None
        try:
            ctx = await self._owner(request, "DELETE")
            if not await stored.delete(ctx.user_id, response_id):  # type: ignore[arg-type]
                raise self._not_found(response_id)
        except APIError as error:
            return error_response(ctx, error)
        return _json({"id": response_id, "object": "response", "deleted": True}, ctx=ctx)

    # --- Connect Codex ------------------------------------------------------------------------

    async def _codex_config(self, request: Request) -> HTTPResponse:
        server = codex_setup.base_url(request, request.app.ctx.state.settings.public_url)
        text = codex_setup.config_toml(server, self.config)
        return HTTPResponse(text, content_type="application/toml; charset=utf-8")

    async def _codex_catalog(self, request: Request) -> HTTPResponse:
        return _json(await codex_setup.catalog(request, self.config, self.instructions))
