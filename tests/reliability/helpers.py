"""Shared checks for the reliability tests: the OpenAI error shape, SSE terminal events."""

from __future__ import annotations

from typing import Any

import httpx
import orjson


def assert_openai_error(response: httpx.Response, status: int | None = None, type_: str | None = None,
                        code: str | None = None) -> dict[str, Any]:
    """The response is an OpenAI-shaped JSON error (optionally of this status, type and code)."""
    if status is not None:
        assert response.status_code == status, response.text
    assert response.headers.get("content-type", "").startswith("application/json"), response.text[:200]
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code", "param"} and error["message"], error
    if type_ is not None:
        assert error["type"] == type_
    if code is not None:
        assert error["code"] == code
    return error


def assert_error_shape(body: bytes) -> dict[str, Any]:
    """Raw bytes: an OpenAI error object and nothing that looks like a traceback or HTML page."""
    assert b"Traceback" not in body and b"<html" not in body.lower(), body[:300]
    error = orjson.loads(body)["error"]
    assert isinstance(error["message"], str) and error["message"] and "type" in error, error
    return error


def stream_ending(raw: bytes) -> str:
    """How an OpenAI chat-completions SSE stream ended: "done", "error" or "none" (cut off)."""
    events = [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]
    if not events:
        return "none"
    if events[-1].strip() == b"[DONE]":
        return "done"
    try:
        last = orjson.loads(events[-1])
    except orjson.JSONDecodeError:
        return "none"
    return "error" if isinstance(last, dict) and "error" in last else "none"
