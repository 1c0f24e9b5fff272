"""Account events: what changed, who did it, from where, announced to whichever plugin keeps the log.

The core and its command line never know where events are stored: they call ``record``, which runs
the ``account_event`` observer hook (the dashboard plugin writes its audit table). A failing writer
is logged by the runner and never fails the action it records.

Never put a secret into an event: no password, no API key secret, no Ollama key. Use ids,
display prefixes, masked forms and labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from proxy.runner import HookRunner

CLI = "cli"  # the actor of actions taken on the command line (they have no address)


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """One recorded action.

    ``actor``: the username who acted (``"cli"`` for the command line; for a sign-in, the name
    typed). ``action``: a short dotted name, e.g. ``signin.failed``, ``api_key.created``.
    ``subject``: the username the action concerns (whose key, whose account), or "".
    ``target``: what was acted on, in words without secrets (``key 12 (llm_ab12…)``).
    ``address``: the client address (``request.client_ip``), "" on the command line.
    ``details``: anything else worth keeping, again without secrets.
    """

    actor: str
    action: str
    subject: str = ""
    target: str = ""
    address: str = ""
    details: str = ""
    at: datetime | None = None  # set by ``record`` when left out


async def record(
    runner: HookRunner,
    actor: str,
    action: str,
    *,
    subject: str = "",
    target: str = "",
    address: str = "",
    details: str = "",
) -> None:
    """Announce one action to the plugins that keep the audit log (``account_event``)."""
    event = AccountEvent(
        actor=actor, action=action, subject=subject, target=target, address=address, details=details,
        at=datetime.now(UTC),
    )
    await runner.call("account_event", event=event)
