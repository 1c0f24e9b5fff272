"""An example llmgate plugin, complete: a mode with a route, an admission rule, a command and a table.

- Mode ``journal``: ``POST /v1/journal`` with ``{"entry": "..."}`` asks the model for a one-line
  reflection on the entry, stores both and answers ``{"id": ..., "reflection": ...}``;
  ``GET /v1/journal/count`` (a route of the mode) answers how many entries the caller has.
- Admission: an entry longer than ``[plugins.journal] max_chars`` (2000 by default) is refused
  with a 400 before anything is sent upstream.
- Table ``journal_entries`` (``models.py``), with its migrations for SQLite and PostgreSQL in
  ``migrations/<dialect>/journal/``.
- Command: ``llmgate journal list <username>`` prints a user's entries.

Everything comes from ``proxy.api``, the plugin API; nothing else in the gateway's ``proxy``
package is a promise.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import orjson

from proxy.api import (
    APIError,
    ClientResponse,
    Endpoint,
    InvalidRequest,
    ModeSpec,
    PluginModels,
    RequestContext,
    Route,
    UpstreamRequest,
    chosen_model,
    cli_settings,
    get_user,
    hookimpl,
    print_table,
    with_database,
)

NAME = "journal"
ENDPOINT = Endpoint("POST", "/v1/journal")
DEFAULT_MAX_CHARS = 2000
PROMPT = "Reply with one short sentence that reflects on the user's journal entry."


async def count_entries(ctx: RequestContext) -> ClientResponse:
    from llmgate_example.models import JournalEntry

    assert ctx.principal is not None  # the route is not public: only journal keys get here
    entries = await JournalEntry.filter(user_id=ctx.principal.user_id).count()
    return ClientResponse(200, orjson.dumps({"entries": entries}))


class JournalPlugin:
    # --- the table ------------------------------------------------------------------------

    @hookimpl
    def register_models(self) -> PluginModels:
        return PluginModels(
            modules=("llmgate_example.models",), migrations=Path(__file__).parent / "migrations"
        )

    # --- the mode -------------------------------------------------------------------------

    @hookimpl
    def register_modes(self) -> list[ModeSpec]:
        return [ModeSpec(NAME, (ENDPOINT,), "A journal the model reflects on", plugin=self,
                         routes=(Route("GET", "/v1/journal/count", count_entries),))]  # fmt: skip

    @hookimpl
    def admit_request(self, ctx: RequestContext) -> APIError | None:
        if ctx.body is None:  # a route: nothing to measure
            return None
        limit = int(ctx.settings.plugin(NAME).get("max_chars", DEFAULT_MAX_CHARS))
        entry = ctx.body.get("entry")
        if isinstance(entry, str) and len(entry) > limit:
            message = f"A journal entry may be {limit} characters long; this one has {len(entry)}."
            return APIError(400, message, "entry_too_long")
        return None

    @hookimpl
    def transform_request(self, ctx: RequestContext) -> UpstreamRequest:
        assert ctx.body is not None
        entry = ctx.body.get("entry")
        if not isinstance(entry, str) or not entry.strip():
            raise InvalidRequest("'entry' must be a non-empty string.", param="entry")
        # The client's body is released once this hook returns: keep what the answer needs.
        ctx.meta[NAME] = entry
        messages = [{"role": "system", "content": PROMPT}, {"role": "user", "content": entry}]
        body = {"model": chosen_model(ctx), "messages": messages, "stream": False}
        return UpstreamRequest("/api/chat", body, stream=False)

    @hookimpl
    async def transform_response(self, ctx: RequestContext, status: int, body: bytes) -> ClientResponse:
        from llmgate_example.models import JournalEntry

        assert ctx.principal is not None
        reflection = orjson.loads(body)["message"]["content"].strip()
        row = await JournalEntry.create(
            user_id=ctx.principal.user_id, text=ctx.meta[NAME], reflection=reflection
        )
        return ClientResponse(200, orjson.dumps({"id": row.id, "reflection": reflection}))

    # --- the command ----------------------------------------------------------------------

    @hookimpl
    def register_commands(self, subparsers: Any) -> None:
        journal = subparsers.add_parser(NAME, help="users' journal entries")
        commands = journal.add_subparsers(dest="journal_command", required=True)
        listing = commands.add_parser("list", help="a user's entries, oldest first")
        listing.add_argument("username")
        listing.set_defaults(func=list_entries)


def list_entries(args: argparse.Namespace) -> None:
    from llmgate_example.models import JournalEntry

    async def work() -> None:
        user = await get_user(args.username)
        entries = await JournalEntry.filter(user_id=user.id).order_by("id")
        print_table([("ID", "ENTRY", "REFLECTION"), *((str(e.id), e.text, e.reflection) for e in entries)])

    asyncio.run(with_database(cli_settings(), work))
