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
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sanic import Sanic

from config.settings import Settings
from proxy.api import (
    AppState,
    ClientResponse,
    Endpoint,
    ModeSpec,
    NotFound,
    PluginModels,
    RequestContext,
    Route,
    Upstream,
    UpstreamRequest,
    chosen_model,
    error_for_code,
    hookimpl,
)

from . import codex_setup, context_fit, stored
from .config import EmulatorSettings, load
from .field_checks import opt_str
from .input_translation import reference_ids, translate_input
from .relay import relay
from .request_translation import translate_request
from .sealing import ThinkingSealer
from .stream_translation import ResponseEventStream
from .tool_mapping import ToolMap

NAME = "emulator"
RESPONSES = Endpoint("POST", "/v1/responses")
STORED_PATH = "/v1/responses/<response_id:str>"
STORED_ABOUT = "stored responses belong to the Responses API"
MODEL_CREATED = 1_772_668_800  # a fixed date: model objects must not change between calls


@dataclass(slots=True)
class Turn:
    """What the later hooks of one request need from ``transform_request``: no parsed copy of the
    client's request (a long stream would hold it for its whole life)."""

    # The upstream body, emptied once no candidate is left to measure it for (see upstream_attempt)
    # or output is committed (no failover after).
    chat: dict[str, Any]
    model: str
    tool_map: ToolMap
    # The Response the client sees, kept across upstream attempts: a failover continues it.
    events: ResponseEventStream
    store: bool
    previous_response_id: str | None
    sealer: ThinkingSealer  # bound to the calling user: their thinking opens for them only
    # store: true: what is stored beside the response (see stored.pack), until the final Response.
    kept: bytes = b""
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
                routes=(
                    Route("GET", STORED_PATH, self._get_stored, about=STORED_ABOUT),
                    Route("DELETE", STORED_PATH, self._delete_stored, about=STORED_ABOUT),
                    # Public downloads: Codex fetches them before it has a key configured.
                    Route("GET", codex_setup.CONFIG_PATH, self._codex_config, public=True),
                    Route("GET", codex_setup.CATALOG_PATH, self._codex_catalog, public=True),
                ),
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

    @hookimpl
    def startup(self, state: AppState) -> None:
        state.every(self.config.purge_every_seconds, stored.purge_expired)

    # --- the request ----------------------------------------------------------------------

    @hookimpl
    async def transform_request(self, ctx: RequestContext) -> UpstreamRequest | None:
        if ctx.endpoint != RESPONSES:
            return None
        body = ctx.body
        assert body is not None and self.sealer is not None and ctx.user_id is not None
        sealer = self.sealer.for_user(ctx.user_id)
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
            body, upstream_model=upstream_model, sealer=sealer, references=references
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
                    sealer=sealer,
                    references=references,
                )
            conversation = history + own
            translated.chat["messages"] = with_instructions(echo["instructions"], conversation)
        events = ResponseEventStream(
            response_id="resp_" + os.urandom(16).hex(),
            model=requested or self.config.default_model,
            echo=echo,
            tool_map=translated.tool_map,
            sealer=sealer,
            include_encrypted=translated.include_encrypted,
        )
        kept = b""
        if store:
            input_items = body["input"] if isinstance(body.get("input"), list) else []
            kept = stored.pack(conversation, input_items)
        ctx.meta[NAME] = Turn(
            chat=translated.chat,
            model=translated.chat["model"],
            tool_map=translated.tool_map,
            events=events,
            store=store,
            previous_response_id=previous_id,
            sealer=sealer,
            kept=kept,
        )
        return UpstreamRequest("/api/chat", translated.chat, stream=translated.stream)

    @hookimpl(tryfirst=True)  # before a key plugin admits the attempt: a refusal must not hold a key
    def upstream_attempt(self, ctx: RequestContext, upstream: Upstream) -> bool | None:
        """Refuse a prompt that clearly cannot fit this candidate's window (see context_fit)."""
        turn: Turn | None = ctx.meta.get(NAME)
        if turn is None:
            return None
        try:
            self._check_fit(ctx, turn, upstream)
        finally:
            if ctx.candidates and upstream is ctx.candidates[-1]:
                # The last candidate: nothing will measure the chat again. Dropped now, before
                # the request waits for its upstream, a crowd of long requests does not hold
                # thousands of parsed chats at once (the core keeps only the serialized body).
                turn.chat = {}
        return None

    @staticmethod
    def _check_fit(ctx: RequestContext, turn: Turn, upstream: Upstream) -> None:
        window = codex_setup.known_context_window(ctx.state, upstream, turn.model)
        if window is None:
            return
        if turn.prompt_bytes is None:
            client_bytes = ctx.request_bytes
            if not turn.previous_response_id and context_fit.surely_fits(client_bytes, window):
                return
            turn.prompt_bytes = context_fit.prompt_bytes(turn.chat)
        error = context_fit.context_exceeded(turn.prompt_bytes, window, upstream, turn.model)
        if error is not None:
            raise error

    async def _keep(self, ctx: RequestContext, turn: Turn) -> None:
        if not turn.store or ctx.principal is None:
            return
        response = turn.events.response
        conversation, input_items = stored.unpack(turn.kept)
        turn.kept = b""
        answer = stored.answer_messages(response.get("output") or [], turn.tool_map, turn.sealer)
        await stored.save(
            ctx.state,
            user_id=ctx.principal.user_id,
            response=response,
            messages=conversation + answer,
            previous_response_id=turn.previous_response_id,
            retention_hours=self.config.store_retention_hours,
            input_items=input_items,
            max_bytes_per_user=self.config.store_max_bytes_per_user,
        )

    @hookimpl
    def stream_transform_response(self, ctx: RequestContext, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes] | None:
        turn: Turn | None = ctx.meta.get(NAME)
        if turn is None:
            return None

        async def keep() -> None:
            await self._keep(ctx, turn)

        def committed() -> None:
            # No failover once output is out: the translated chat body (its system message alone
            # about 50 KB for Codex) is not needed for the rest of a long stream.
            turn.chat = {}

        return relay(
            ctx, stream, turn.events, heartbeat_seconds=self.config.heartbeat_seconds,
            on_final=keep, on_committed=committed,
        )

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
        events = turn.events
        events.feed(chunk)
        events.finish()
        usage = events.usage
        if usage:
            ctx.usage.input_tokens = usage["input_tokens"]
            ctx.usage.output_tokens = usage["output_tokens"]
        await self._keep(ctx, turn)
        if events.status == "failed":
            # Without a stream there is no response.failed event: the failure is an HTTP error, with
            # the status its code calls for.
            error = events.error or {}
            failure = error_for_code(error.get("message") or "the upstream failed", error.get("code"))
            return ClientResponse(failure.status, failure.body(), headers=failure.headers)
        return ClientResponse(200, events.response_json())

    @hookimpl
    def list_models(self, ctx: RequestContext) -> list[dict[str, Any]]:
        return [
            {"id": name, "object": "model", "created": MODEL_CREATED, "owned_by": "llmgate"}
            for name in self.config.models
        ]

    # --- stored responses -------------------------------------------------------------------

    @staticmethod
    def _not_found(response_id: str) -> NotFound:
        return NotFound(f"No response found with id '{response_id}'.", param="response_id", code="response_not_found")

    async def _get_stored(self, ctx: RequestContext) -> ClientResponse:
        response_id = ctx.request.match_info["response_id"]
        response = await stored.fetch(ctx.user_id, response_id)  # type: ignore[arg-type]
        if response is None:
            raise self._not_found(response_id)
        return ClientResponse(200, orjson.dumps(response))

    async def _delete_stored(self, ctx: RequestContext) -> ClientResponse:
        response_id = ctx.request.match_info["response_id"]
        if not await stored.delete(ctx.user_id, response_id):  # type: ignore[arg-type]
            raise self._not_found(response_id)
        return ClientResponse(200, orjson.dumps({"id": response_id, "object": "response", "deleted": True}))

    # --- Connect Codex ------------------------------------------------------------------------

    async def _codex_config(self, ctx: RequestContext) -> ClientResponse:
        server = codex_setup.base_url(ctx.request, ctx.settings.public_url)
        text = codex_setup.config_toml(server, self.config)
        return ClientResponse(200, text.encode(), content_type="application/toml; charset=utf-8")

    async def _codex_catalog(self, ctx: RequestContext) -> ClientResponse:
        return ClientResponse(200, orjson.dumps(await codex_setup.catalog(ctx, self.config, self.instructions)))
