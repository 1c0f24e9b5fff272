"""Schema-driven fuzzing: schemathesis against the gateway's own OpenAPI document (/openapi.json).

A live gateway in front of the fake Ollama. For every operation the document describes, data that
follows the schema (positive) and data that breaks it (negative) are sent with a valid key of
the operation's mode. Checked on every answer: no 5xx, a status and content type the document
lists, a body that matches its schema (every 4xx is the OpenAI error object), and streams that end
with their mode's terminal event. The gateway still answers afterwards.

Bounded and repeatable: hypothesis runs derandomized with a fixed number of examples per operation,
driven through schemathesis's Python API in a plain test (its pytest integration would load the
schema at import time, before the threaded gateway fixture exists).
"""

from __future__ import annotations

import httpx
import orjson
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fake_ollama import FakeOllama
from tests.reliability.helpers import stream_ending
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Examples per operation and generation mode; the whole file runs in well under 40 s on 2 cores.
EXAMPLES = {"POST": 30, "GET": 10, "DELETE": 10}
EMULATOR_TERMINAL = {"response.completed", "response.failed", "response.incomplete", "error"}


def _sse_events(raw: bytes) -> list[bytes]:
    return [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]


def _content_type(response: schemathesis.Response) -> str:
    values = {name.lower(): value for name, value in response.headers.items()}.get("content-type") or [""]
    return values[0]


def check_stream_ends(path: str, response: schemathesis.Response) -> None:
    """A 200 event stream ends with its mode's terminal event, never just stops."""
    if response.status_code != 200 or not _content_type(response).startswith("text/event-stream"):
        return
    raw = response.content
    if path == "/v1/chat/completions":
        assert stream_ending(raw) in ("done", "error"), raw[-300:]
        return
    events = _sse_events(raw)
    assert events, raw[-300:]
    last = orjson.loads(events[-1])
    assert last.get("type") in EMULATOR_TERMINAL, last


def check_no_leak(response: schemathesis.Response) -> None:
    body = response.content
    assert b"Traceback" not in body and b"<html" not in body.lower(), body[:300]


@pytest.fixture
def keys(gateway: GatewayServer, fake: FakeOllama) -> dict[str, str]:
    modes = gateway.state.runner.modes
    return {mode: make_key(gateway, mode=mode) for mode in ("bypass", "emulator") if mode in modes}


def test_openapi_document_lists_only_enabled_modes(start_gateway, fake: FakeOllama) -> None:
    gateway = start_gateway(env={"LLMGATE_PLUGINS_DISABLED": "emulator"})
    document = httpx.get(gateway.url + "/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {"/v1/chat/completions", "/v1/models", "/healthz"}


def test_schemathesis_finds_nothing(gateway: GatewayServer, keys: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_url(gateway.url + "/openapi.json", timeout=10)
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {operation.label for operation in operations}
    assert "GET /v1/models" in labels and "GET /healthz" in labels
    if "bypass" in keys:
        assert "POST /v1/chat/completions" in labels
    if "emulator" in keys:
        assert {"POST /v1/responses", "GET /v1/responses/{response_id}", "DELETE /v1/responses/{response_id}"} <= labels

    session = requests.Session()
    sent = 0
    for operation in operations:
        mode = "emulator" if operation.path.startswith("/v1/responses") else "bypass"
        key = keys.get(mode) or next(iter(keys.values()))
        headers = {"Authorization": f"Bearer {key}"}
        for generation_mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES[operation.method.upper()],
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate, Phase.shrink],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=generation_mode))
            def run(case: schemathesis.Case) -> None:
                nonlocal sent
                response = case.call(base_url=gateway.url, session=session, headers=headers, timeout=15)
                sent += 1
                case.validate_response(response, checks=CHECKS)
                check_no_leak(response)
                check_stream_ends(operation.path, response)

            try:
                run()
            except Unsatisfiable:
                # Nothing to break: the operation takes no parameters and no body.
                assert generation_mode is GenerationMode.NEGATIVE, operation.label

    assert sent >= len(operations) * 2
    # Still serving, with the document unchanged.
    assert httpx.get(gateway.url + "/healthz").status_code == 200
    models = httpx.get(gateway.url + "/v1/models", headers={"authorization": f"Bearer {next(iter(keys.values()))}"})
    assert models.status_code == 200 and models.json()["object"] == "list"
