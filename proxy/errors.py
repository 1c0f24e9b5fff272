"""Errors that reach API clients, always in the OpenAI error shape.

    APIError                      any error a client sees: status + {"error": {message, type, code, param}}
    ├── InvalidRequest            400 invalid_request_error (bad JSON, wrong types, missing fields)
    ├── PayloadTooLarge           413
    ├── AuthenticationFailed      401 authentication_error / invalid_api_key
    ├── PermissionDenied          403 permission_error (e.g. wrong_key_mode)
    ├── NotFound                  404 not_found_error
    ├── RateLimited               429 (Retry-After, usage_limit_reached with resets_at)
    └── UpstreamError             an upstream answer or failure, mapped to a client status

Handlers raise these; one Sanic error handler renders them, so no handler formats errors itself.
"""

from __future__ import annotations

from typing import Any

import orjson


class APIError(Exception):
    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(
        self,
        status_or_message: int | str,
        message: str | None = None,
        code: str | None = None,
        *,
        status: int | None = None,
        type: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        # Two spellings: APIError(status, message, code=None) for plugins, and
        # APIError(message, status=..., ...) as the subclasses (InvalidRequest("...")) use it.
        positional_status = isinstance(status_or_message, int) and not isinstance(status_or_message, bool)
        if positional_status:
            if message is None or status is not None:
                raise TypeError("APIError(status, message, code=None): give the status once and a message")
            status = status_or_message
        else:
            if message is not None:
                raise TypeError("APIError takes (status, message, code) or (message, status=...)")
            message = status_or_message
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type
        elif positional_status and status is not None and self.type == APIError.type:
            # A plain APIError(404, ...) gets the OpenAI type clients expect for its status.
            fallback = "invalid_request_error" if status < 500 else "server_error"
            self.type = _TYPE_FOR_STATUS.get(status, fallback)
        if code is not None:
            self.code = code
        self.param = param
        self.headers = dict(headers or {})
        # Extra members of the "error" object, e.g. resets_at for usage_limit_reached.
        self.extra = dict(extra or {})

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.type,
            "code": self.code,
            "param": self.param,
        }
        error.update(self.extra)
        return {"error": error}

    def body(self) -> bytes:
        return orjson.dumps(self.to_dict())


_TYPE_FOR_STATUS = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


class InvalidRequest(APIError):
    status = 400
    type = "invalid_request_error"


class PayloadTooLarge(APIError):
    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"


class AuthenticationFailed(APIError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(APIError):
    status = 403
    type = "permission_error"


class NotFound(APIError):
    status = 404
    type = "not_found_error"


class RateLimited(APIError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class UpstreamError(APIError):
    """An upstream failure. ``upstream_status`` is what the upstream said (None: no answer)."""

    status = 502
    type = "upstream_error"

    def __init__(self, message: str, *, upstream_status: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.upstream_status = upstream_status
