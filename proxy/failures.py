"""What an upstream failure means: one table for every mode and plugin.

    upstream text (case-insensitive)              code                       client status
    "context length|window|size", "prompt too     context_length_exceeded    400 (no retry helps)
      long", "maximum context"
    "usage limit"                                 usage_limit_reached        429, no Retry-After
    "rate limit", "too many requests",            rate_limit_exceeded        429, Retry-After
      "concurrent request"
    "overloaded"                                  server_is_overloaded       503

Without a text match the upstream's status decides (``failure_to_error``). Streams that already
committed their status report the same code in their own terminal event (the emulator's
``response.failed``). Whether to try the next candidate is the ``classify_upstream_failure`` hook's
decision; without one, connection failures and 5xx get one more candidate.

A mode's stream raises ``UpstreamFailed`` when the upstream failed before any committed output
(an error line, a stream that ended without an answer): the core then fails over, whatever other
plugins wrap the stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from proxy.context import UpstreamFailure
from proxy.errors import APIError, UpstreamError

# Sent with a transient 429: clients (the openai SDK, Codex) retry a 429 only when told when to.
TRANSIENT_RETRY_AFTER_SECONDS = 2

CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
USAGE_LIMIT_REACHED = "usage_limit_reached"
RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
SERVER_IS_OVERLOADED = "server_is_overloaded"

# Order matters: the first row whose marker occurs in the text names the code.
TEXT_CODES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("context length", "context window", "context size", "prompt too long", "maximum context"),
     CONTEXT_LENGTH_EXCEEDED),
    (("usage limit",), USAGE_LIMIT_REACHED),
    (("rate limit", "too many requests", "concurrent request"), RATE_LIMIT_EXCEEDED),
    (("overloaded",), SERVER_IS_OVERLOADED),
)  # fmt: skip

# The client status an error with a known code gets when it can still be an HTTP status.
CODE_STATUS = {
    CONTEXT_LENGTH_EXCEEDED: 400,
    USAGE_LIMIT_REACHED: 429,
    RATE_LIMIT_EXCEEDED: 429,
    SERVER_IS_OVERLOADED: 503,
}


# The code an error status means when no text says more.
STATUS_CODES = {429: RATE_LIMIT_EXCEEDED, 503: SERVER_IS_OVERLOADED}


@dataclass(frozen=True, slots=True)
class FailureVerdict:
    """A richer answer of ``classify_upstream_failure``: try the next candidate or not, and the
    code the client should see (None: the core's table decides)."""

    retry: bool
    code: str | None = None


class UpstreamFailed(UpstreamError):
    """Raised by a mode's stream: this upstream failed before the client got committed output.

    The core records the failure, asks ``classify_upstream_failure`` and, when it says so, starts
    the stream wrappers again on the next candidate. ``upstream_status`` is the status the
    upstream reported, if any.
    """


def code_for_text(message: str) -> str | None:
    """The code the table gives an upstream error text; None when no row matches."""
    text = message.lower()
    for markers, code in TEXT_CODES:
        if any(marker in text for marker in markers):
            return code
    return None


def code_for_error(error: APIError) -> str | None:
    """The table's code for an error the client would have got as an HTTP status: by its text,
    else by its status; None when neither says anything the table knows."""
    return code_for_text(error.message) or STATUS_CODES.get(error.status)


def error_for_code(message: str, code: str | None) -> APIError:
    """An error with a code from the table, as an HTTP error (the status its code calls for)."""
    code = code or "server_error"
    headers = {"retry-after": str(TRANSIENT_RETRY_AFTER_SECONDS)} if code == RATE_LIMIT_EXCEEDED else None
    error_type = "invalid_request_error" if code == CONTEXT_LENGTH_EXCEEDED else "server_error"
    return APIError(message, status=CODE_STATUS.get(code, 502), type=error_type, code=code, headers=headers)


def failure_to_error(failure: UpstreamFailure) -> APIError:
    """The client's view of one failed attempt, in the OpenAI error shape."""
    status = failure.status
    code = code_for_text(failure.message)
    if status is None:
        if code is not None and code != USAGE_LIMIT_REACHED:
            return error_for_code(failure.message, code)
        return UpstreamError(failure.message, status=502, code="upstream_unreachable")
    message = f"upstream {failure.upstream.label} answered {status}: {failure.message}"
    if code == CONTEXT_LENGTH_EXCEEDED:
        # Whatever status the upstream chose, a retry cannot help; OpenAI clients know this code.
        return error_for_code(message, code)
    if status == 401:
        # The client's own key was fine; the gateway's credentials for the upstream were not.
        return UpstreamError(message, status=502, code="upstream_unauthorized", upstream_status=status)
    if status == 429:
        # A spent quota will not be back in seconds; anything else is worth a retry.
        retry = {} if code == USAGE_LIMIT_REACHED else {"retry-after": str(TRANSIENT_RETRY_AFTER_SECONDS)}
        return APIError(message, status=429, type="rate_limit_error", code=RATE_LIMIT_EXCEEDED, headers=retry)
    if status == 503:
        return UpstreamError(message, status=503, code=SERVER_IS_OVERLOADED, upstream_status=status)
    if status >= 500:
        return UpstreamError(message, status=502, code="upstream_error", upstream_status=status)
    if status == 403:
        return APIError(message, status=403, type="permission_error", code="upstream_forbidden")
    if status == 404:
        return APIError(message, status=404, type="invalid_request_error", code="model_not_found")
    return APIError(message, status=status, type="invalid_request_error", code="upstream_rejected")
