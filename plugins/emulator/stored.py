"""Stored responses: ``store: true`` (OpenAI's default) keeps the Response and its conversation.

A row holds the final Response object (what ``GET /v1/responses/{id}`` returns) and the upstream
conversation up to and including this answer (what ``previous_response_id`` continues from), never
the request's ``instructions``: like OpenAI, instructions are not carried over to the next response.

Each stored response also keeps its items one per row (``StoredItem``): its output items, and the
input items the client sent with an id. An ``item_reference`` in a later request names one of them;
``referenced_items`` resolves all references of a request in one indexed query. Deleting or
purging a response removes its items (the foreign key cascades).

Writes run as background tasks (``state.spawn``), so a client that goes away cannot cancel them,
but the request waits for its write (up to ``WRITE_WAIT_SECONDS``) before it sends the final event
or body: a ``GET`` the client sends right after must find the row, on any worker. Only requests
that store pay that wait (one transaction: the response row and one multi-row INSERT of its items);
``store: false`` (Codex) costs nothing.

Each user's stored responses are capped in size (``store_max_bytes_per_user``; the JSON of the row
and its items, kept per row in ``size_bytes``): a write that would pass the cap first deletes the
user's oldest responses, in the same transaction, until it fits (one SUM, and one more query and
delete only when over). A response larger than the cap on its own is answered but not stored: its
id is then unknown to ``GET`` and ``previous_response_id``, and the log says why. Two writes of one
user at the same instant may each see the other's room and pass the cap by one response.
"""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from tortoise.expressions import Subquery
from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from plugins.emulator.models import StoredItem, StoredResponse
from proxy.api import AppState, InvalidRequest

from .input_translation import translate_input
from .sealing import ThinkingSealer
from .tool_mapping import ToolMap

log = logging.getLogger("llmgate")
WRITE_WAIT_SECONDS = 5.0
# Ids per lookup statement, well below the bind-parameter limits (SQLite 32,766, PostgreSQL 65,535):
# an ordinary request needs one query, a huge one still resolves.
BATCH = 1000


def _now() -> datetime:
    return datetime.now(UTC)


# No stored id is longer; a longer one from a client is simply unknown (the ORM would refuse to
# query it, a 500 found by schemathesis).
ID_MAX_LENGTH = StoredResponse._meta.fields_map["id"].max_length


def _possible(response_id: str) -> bool:
    return len(response_id) <= ID_MAX_LENGTH


def _item_id(item: Any) -> str | None:
    """The id under which an item can be referenced later, or None when it has none we can keep."""
    if not isinstance(item, dict) or item.get("type") == "item_reference":
        return None
    item_id = item.get("id")
    if not isinstance(item_id, str) or not item_id or not _possible(item_id):
        return None
    if item.get("type") is None and "role" not in item:
        return None  # `{"id": ...}` alone is a reference, not an item
    return item_id


def pack(messages: list[dict[str, Any]], input_items: list[Any]) -> bytes:
    """What ``save`` will store beside the response, held until the response is final: compressed JSON.
    A long stream would otherwise keep them as Python objects (Codex: about 55 KB of JSON; 13.6 KB
    compressed, as zlib finds the system message's repeat of the developer texts, for about 0.4 ms
    of CPU per request)."""
    return zlib.compress(orjson.dumps([messages, input_items]), 1)


def unpack(packed: bytes) -> tuple[list[dict[str, Any]], list[Any]]:
    """The messages and input items ``pack`` was given."""
    messages, input_items = orjson.loads(zlib.decompress(packed))
    return messages, input_items


def _live(user_id: int, response_id: str) -> Any:
    return StoredResponse.filter(id=response_id, user_id=user_id, expires_at__gt=_now())


def answer_messages(output: list[dict[str, Any]], tool_map: ToolMap, sealer: ThinkingSealer) -> list[dict[str, Any]]:
    """A Response's output items as upstream messages: they are valid input items, so the input
    translation turns them into the assistant turn (thinking, text, tool calls) the model produced."""
    items = [item for item in output if item.get("type") in ("message", "reasoning", "function_call", "custom_tool_call")]
    try:
        return translate_input(None, items, tool_map=tool_map, sealer=sealer)
    except InvalidRequest:  # an item cut off by a failure; the conversation stays usable without it
        return []


async def conversation(user_id: int, response_id: str) -> list[dict[str, Any]]:
    """The upstream messages ``previous_response_id`` continues; 400 when it is unknown to this user."""
    messages = None
    if _possible(response_id):
        messages = await _live(user_id, response_id).first().values_list("messages", flat=True)
    if messages is None:
        raise InvalidRequest(
            f"Previous response with id '{response_id}' not found. Responses are kept only when stored "
            "(store: true), only for their owner, and only until they expire.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return list(messages)  # type: ignore[call-overload]


async def referenced_items(user_id: int, item_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The live stored items of this user among ``item_ids``, by id (one query)."""
    wanted = sorted({item_id for item_id in item_ids if _possible(item_id)})
    found: dict[str, dict[str, Any]] = {}
    now = _now()
    for start in range(0, len(wanted), BATCH):
        rows = (
            await StoredItem.filter(user_id=user_id, item_id__in=wanted[start : start + BATCH], expires_at__gt=now)
            .order_by("id")
            .values_list("item_id", "item")
        )
        found.update(rows)  # type: ignore[arg-type]  # later rows are newer: they win
    return found


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


async def _make_room(user_id: int, size: int, cap: int) -> None:
    """Delete the user's oldest stored responses until ``size`` more bytes fit under ``cap``."""
    rows = StoredResponse.filter(user_id=user_id)
    total = (await rows.annotate(total=Sum("size_bytes")).first().values_list("total", flat=True)) or 0
    excess = int(total) + size - cap  # type: ignore[call-overload]
    if excess <= 0:
        return
    doomed: list[str] = []
    for response_id, row_size in await rows.order_by("created_at", "id").values_list("id", "size_bytes"):
        doomed.append(response_id)  # type: ignore[arg-type]
        excess -= row_size  # type: ignore[operator]
        if excess <= 0:
            break
    await StoredItem.filter(response_id__in=doomed).delete()
    await StoredResponse.filter(id__in=doomed).delete()
    log.info("stored responses of user %d over their cap: expired the %d oldest", user_id, len(doomed))


async def _write(response_row: StoredResponse, items: list[StoredItem], cap: int) -> None:
    async with in_transaction():
        if cap:
            await _make_room(response_row.user_id, response_row.size_bytes, cap)
        await response_row.save(force_create=True)
        if items:
            await StoredItem.bulk_create(items)  # executemany: no bind-parameter limit


async def save(
    state: AppState,
    *,
    user_id: int,
    response: dict[str, Any],
    messages: list[dict[str, Any]],
    previous_response_id: str | None,
    retention_hours: float,
    input_items: Sequence[Any] = (),
    max_bytes_per_user: int = 0,
) -> None:
    """Write the rows in the background and wait (bounded) for them; see the module notes."""
    expires_at = _now() + timedelta(hours=retention_hours)
    response_row = StoredResponse(
        id=response["id"],
        user_id=user_id,
        expires_at=expires_at,
        previous_response_id=previous_response_id,
        messages=messages,
        response=response,
    )
    items = [
        StoredItem(
            user_id=user_id, response_id=response["id"], item_id=item_id, expires_at=expires_at, item=item
        )
        for item in (*input_items, *(response.get("output") or ()))
        if (item_id := _item_id(item)) is not None
    ]
    size = _json_size(messages) + _json_size(response) + sum(_json_size(item.item) for item in items)
    if max_bytes_per_user and size > max_bytes_per_user:
        log.warning(
            "response %s not stored: its %d bytes exceed store_max_bytes_per_user (%d)",
            response["id"], size, max_bytes_per_user,
        )
        return
    response_row.size_bytes = size
    task = state.spawn(_write(response_row, items, max_bytes_per_user))
    try:
        await asyncio.wait_for(asyncio.shield(task), WRITE_WAIT_SECONDS)
    except TimeoutError:
        log.warning("storing response %s takes longer than %ss; not waiting for it", response["id"], WRITE_WAIT_SECONDS)
    except Exception as exc:  # the answer still goes out; state.spawn logs the failure too
        log.error("could not store response %s: %r", response["id"], exc)


async def fetch(user_id: int, response_id: str) -> dict[str, Any] | None:
    if not _possible(response_id):
        return None
    response = await _live(user_id, response_id).first().values_list("response", flat=True)
    return None if response is None else dict(response)  # type: ignore[call-overload]


async def delete(user_id: int, response_id: str) -> bool:
    if not _possible(response_id):
        return False
    return bool(await StoredResponse.filter(id=response_id, user_id=user_id).delete())


async def purge_expired() -> int:
    """Delete expired responses with their items; returns how many responses went."""
    now = _now()
    expired = StoredResponse.filter(expires_at__lte=now)
    # Items first, so the count is the responses' alone (SQLite would count cascaded rows too).
    await StoredItem.filter(response_id__in=Subquery(expired.values("id"))).delete()
    return int(await expired.delete())
