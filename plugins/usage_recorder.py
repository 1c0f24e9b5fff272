"""Records every proxied request (who, which key, tokens) in batches off the request path."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from proxy.context import RequestContext
from proxy.hookspecs import hookimpl
from proxy.state import AppState
from proxy.storage.models import UsageRecord

NAME = "usage_recorder"
FLUSH_SECONDS = 1.0
# Records kept in memory while the database is unreachable (about 1 KiB each); beyond this the
# oldest are dropped, so an outage cannot exhaust the worker's memory.
MAX_PENDING = 100_000

log = logging.getLogger("llmgate")


class UsageBuffer:
    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self.pending: list[UsageRecord] = []
        self.max_pending = max_pending

    async def flush(self) -> None:
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        try:
            await UsageRecord.bulk_create(pending)  # one transaction: all rows or none
        except BaseException:
            # Keep them for the next flush (the database may be restarting), oldest first.
            self.pending = pending + self.pending
            overflow = len(self.pending) - self.max_pending
            if overflow > 0:
                del self.pending[:overflow]
                log.error("usage buffer full while the database is unavailable: dropped %d records", overflow)
            raise


@hookimpl
def startup(state: AppState) -> None:
    buffer = state.services[NAME] = UsageBuffer()
    state.every(FLUSH_SECONDS, buffer.flush)


@hookimpl
async def shutdown(state: AppState) -> None:
    await state.services[NAME].flush()


@hookimpl
def request_finished(ctx: RequestContext) -> None:
    principal = ctx.principal
    if principal is None or ctx.mode is None:
        return
    upstream = ctx.upstream
    ctx.state.services[NAME].pending.append(
        UsageRecord(
            created_at=datetime.now(UTC),
            user_id=principal.user_id,
            api_key_id=principal.api_key_id,
            ollama_key_id=upstream.ollama_key_id if upstream else None,
            mode=ctx.mode,
            model=ctx.upstream_model,
            upstream=upstream.label if upstream else None,
            status=ctx.status,
            stream=ctx.stream,
            input_tokens=ctx.usage.input_tokens,
            output_tokens=ctx.usage.output_tokens,
            duration_ms=int((time.perf_counter() - ctx.started) * 1000),
        )
    )
