"""Third-party plugins in the real gateway: admission, middleware, upstream shaping, failing observers, tracing.

Each test registers its plugin in a gateway of its own and checks what a user would notice: the
client's answer and what the fake Ollama received.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import orjson
import pytest

from proxy.context import ClientResponse, Endpoint, ModeSpec, RequestContext, Upstream, UpstreamRequest
from proxy.errors import APIError
from proxy.hookspecs import hookimpl
from proxy.upstream import USER_AGENT
from tests.fake_ollama import FakeOllama, Reply
from tests.reliability.helpers import assert_openai_error
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer

CHAT_PATH = "/v1/chat/completions"
RESPONSES_PATH = "/v1/responses"
CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}
RESPONSE = {"model": "gpt-5.4", "input": "hi", "store": False}


def send(gateway: GatewayServer, key: str | None, mode: str = "bypass", stream: bool = False) -> httpx.Response:
    """One API request in ``mode``'s own endpoint, read whole (streams included)."""
    path, body = (CHAT_PATH, CHAT) if mode == "bypass" else (RESPONSES_PATH, RESPONSE)
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.post(gateway.url + path, json={**body, "stream": stream}, headers=headers, timeout=15)


def wait_for(predicate: Any, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# --- admit_request ---------------------------------------------------------------------------


class MaintenanceWindow:
    """Refuses alice (but not bob) while the upstream is being serviced."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bool]] = []

    @hookimpl
    async def admit_request(self, ctx: RequestContext) -> APIError | None:
        assert ctx.principal is not None and ctx.body is not None
        self.seen.append((ctx.principal.username, ctx.mode or "-", bool(ctx.body.get("stream"))))
        if ctx.principal.username != "alice":
            return None
        return APIError("Closed for maintenance until 03:00 UTC.", status=503, type="server_error",
                        code="maintenance", headers={"retry-after": "120"})


@pytest.mark.parametrize("mode", ["bypass", "emulator"])
@pytest.mark.parametrize("stream", [False, True])
def test_admission_refuses_in_the_openai_shape_before_anything_goes_upstream(
    start_gateway, fake: FakeOllama, mode: str, stream: bool
) -> None:
    rule = MaintenanceWindow()
    gateway = start_gateway(extra_plugins={"maintenance": rule})
    refused = send(gateway, make_key(gateway, mode=mode), mode, stream)
    error = assert_openai_error(refused, 503, "server_error", "maintenance")
    assert error["message"] == "Closed for maintenance until 03:00 UTC."
    assert refused.headers["retry-after"] == "120" and refused.headers["x-request-id"]
    assert fake.chat_requests() == []  # refused before the mode built anything
    # The rule saw the authenticated user, the resolved mode and the parsed body.
    assert rule.seen == [("alice", mode, stream)]
    fake.queue(Reply(content="fine"))
    assert send(gateway, make_key(gateway, mode=mode, username="bob"), mode, stream).status_code == 200
    assert len(fake.chat_requests()) == 1


def test_admission_does_not_run_for_unauthenticated_requests(start_gateway, fake: FakeOllama) -> None:
    rule = MaintenanceWindow()
    gateway = start_gateway(extra_plugins={"maintenance": rule})
    assert_openai_error(send(gateway, "sk-nobody"), 401, "authentication_error", "invalid_api_key")
    assert rule.seen == []


# --- wrap_request ----------------------------------------------------------------------------


class Stopwatch:
    """Middleware: times every request and stamps every answer with a header."""

    def __init__(self) -> None:
        self.timings: list[tuple[str, int, str, float]] = []
        self.finished_after_wrapper: list[bool] = []

    @hookimpl
    async def wrap_request(self, ctx: RequestContext, call_next: Any) -> Any:
        started = time.perf_counter()
        ctx.response_headers["x-stopwatch"] = "on"  # reaches streams, which are sent inside call_next
        response = await call_next()
        if response is not None:
            response.headers["x-stopwatch"] = "on"  # complete answers, errors included
        ctx.meta["stopwatch.done"] = True
        self.timings.append((ctx.endpoint.path, ctx.status, ctx.mode or "-", time.perf_counter() - started))
        return response

    @hookimpl
    def request_finished(self, ctx: RequestContext) -> None:
        self.finished_after_wrapper.append(ctx.meta.get("stopwatch.done", False))


def test_a_middleware_times_and_decorates_every_request(start_gateway, fake: FakeOllama) -> None:
    watch = Stopwatch()
    gateway = start_gateway(extra_plugins={"stopwatch": watch})
    bypass, emulator = make_key(gateway), make_key(gateway, mode="emulator")
    answers = [
        send(gateway, bypass),
        send(gateway, bypass, stream=True),
        send(gateway, emulator, "emulator"),
        send(gateway, emulator, "emulator", stream=True),
        send(gateway, "sk-nobody"),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 401]
    assert all(a.headers.get("x-stopwatch") == "on" for a in answers)
    assert wait_for(lambda: len(watch.finished_after_wrapper) == 5)
    assert [(path, status, mode) for path, status, mode, _ in watch.timings] == [
        (CHAT_PATH, 200, "bypass"),
        (CHAT_PATH, 200, "bypass"),
        (RESPONSES_PATH, 200, "emulator"),
        (RESPONSES_PATH, 200, "emulator"),
        (CHAT_PATH, 401, "-"),
    ]
    assert all(seconds > 0 for *_, seconds in watch.timings)
    # request_finished comes last, after the middleware has returned.
    assert watch.finished_after_wrapper == [True] * 5


class ApiErrorMiddleware:
    @hookimpl
    async def wrap_request(self, ctx: RequestContext, call_next: Any) -> Any:
        if ctx.request.headers.get("x-block"):
            raise APIError("Blocked by policy.", status=451, type="invalid_request_error", code="blocked")
        return await call_next()


def test_a_middleware_may_refuse_with_an_api_error(start_gateway, fake: FakeOllama) -> None:
    gateway = start_gateway(extra_plugins={"blocker": ApiErrorMiddleware()})
    key = make_key(gateway)
    refused = httpx.post(gateway.url + CHAT_PATH, json=CHAT, headers={"authorization": f"Bearer {key}", "x-block": "1"})
    assert_openai_error(refused, 451, "invalid_request_error", "blocked")
    assert fake.chat_requests() == []
    assert send(gateway, key).status_code == 200


# --- prepare_upstream_request and UpstreamRequest.headers -----------------------------------


class TenantTagger:
    """Not a mode: tags alice's upstream requests with a header and a body field, in every mode."""

    @hookimpl
    def prepare_upstream_request(self, ctx: RequestContext, request: UpstreamRequest) -> None:
        if ctx.principal and ctx.principal.username == "alice":
            request.headers = {**(request.headers or {}), "x-tenant": "blue"}
            request.json["keep_alive"] = "10m"


@pytest.mark.parametrize("mode", ["bypass", "emulator"])
def test_a_plugin_shapes_the_upstream_request_of_any_mode(start_gateway, fake: FakeOllama, mode: str) -> None:
    gateway = start_gateway(extra_plugins={"tenant": TenantTagger()})
    assert send(gateway, make_key(gateway, mode=mode), mode).status_code == 200
    received = fake.chat_requests()[-1]
    assert received.headers["x-tenant"] == "blue" and received.json["keep_alive"] == "10m"
    # The plugin's header is merged over the defaults, which all still travel.
    assert received.headers["user-agent"] == USER_AGENT
    assert received.headers["content-type"] == "application/json"
    assert received.headers["accept-encoding"] == "identity"
    assert send(gateway, make_key(gateway, mode=mode, username="bob"), mode).status_code == 200
    # bob's request went with the prebuilt defaults alone: alice's header did not stick to them.
    untouched = fake.chat_requests()[-1]
    assert "x-tenant" not in untouched.headers and "keep_alive" not in untouched.json


class TwoCandidates:
    def __init__(self, url: str) -> None:
        self.url = url

    @hookimpl(tryfirst=True)
    def select_upstream(self, ctx: RequestContext) -> list[Upstream]:
        return [Upstream("first", self.url, api_key="first-key"), Upstream("second", self.url, api_key="second-key")]


def test_shaped_headers_travel_to_every_candidate_with_its_own_key(start_gateway, fake: FakeOllama) -> None:
    gateway = start_gateway(extra_plugins={"tenant": TenantTagger(), "two": TwoCandidates(fake.url)})
    fake.queue(Reply(status=503), Reply(content="from the second"))
    answer = send(gateway, make_key(gateway))
    assert answer.status_code == 200, answer.text
    first, second = fake.chat_requests()
    assert first.headers["x-tenant"] == second.headers["x-tenant"] == "blue"
    assert (first.bearer, second.bearer) == ("first-key", "second-key")


HEADERS_ENDPOINT = Endpoint("POST", "/v1/headers")


class HeadersMode:
    """A mode whose upstream request carries headers of its own, one of them replacing a default."""

    @hookimpl
    def register_modes(self) -> list[ModeSpec]:
        return [ModeSpec("headers", (HEADERS_ENDPOINT,), "Sends its own headers", plugin=self)]

    @hookimpl
    def transform_request(self, ctx: RequestContext) -> UpstreamRequest:
        body = {"model": "llama3.2", "stream": False, "messages": [{"role": "user", "content": "hi"}]}
        return UpstreamRequest("/api/chat", body, stream=False,
                               headers={"x-trace-id": ctx.request_id, "user-agent": "headers-mode/1"})

    @hookimpl
    def transform_response(self, ctx: RequestContext, status: int, body: bytes) -> ClientResponse:
        return ClientResponse(200, orjson.dumps({"reply": orjson.loads(body)["message"]["content"]}))


def test_upstream_request_headers_are_merged_over_the_defaults(start_gateway, fake: FakeOllama) -> None:
    gateway = start_gateway(extra_plugins={"headers_mode": HeadersMode()})
    fake.queue(Reply(content="hello"))
    key = make_key(gateway, mode="headers")
    answer = httpx.post(gateway.url + "/v1/headers", json={}, headers={"authorization": f"Bearer {key}"})
    assert answer.status_code == 200 and answer.json() == {"reply": "hello"}
    received = fake.chat_requests()[-1]
    assert received.headers["x-trace-id"] == answer.headers["x-request-id"]
    assert received.headers["user-agent"] == "headers-mode/1"  # a header named by the mode wins
    assert received.headers["content-type"] == "application/json"  # the other defaults stay
    assert received.json["messages"] == [{"role": "user", "content": "hi"}]


# --- failing observers ------------------------------------------------------------------------


class BrokenObserver:
    @hookimpl
    def upstream_chosen(self, ctx: RequestContext, upstream: Upstream) -> None:
        raise RuntimeError("chosen went wrong")

    @hookimpl
    async def request_finished(self, ctx: RequestContext) -> None:
        raise KeyError("finished went wrong")


@pytest.mark.parametrize("mode", ["bypass", "emulator"])
def test_a_failing_observer_changes_nothing_for_the_client(
    start_gateway, fake: FakeOllama, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = start_gateway(extra_plugins={"broken": BrokenObserver()})
    key = make_key(gateway, mode=mode)
    with caplog.at_level(logging.ERROR, logger="llmgate"):
        fake.queue(Reply(content="marmalade"), Reply(content="quokka"))
        complete = send(gateway, key, mode)
        streamed = send(gateway, key, mode, stream=True)
        assert wait_for(lambda: len([r for r in caplog.records if "hook=request_finished" in r.getMessage()]) == 2)
    assert complete.status_code == 200 and "marmalade" in complete.text
    assert streamed.status_code == 200 and "quokka" in streamed.text
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    messages = [r.getMessage() for r in failures]
    assert sum("hook=upstream_chosen plugin=broken" in m for m in messages) == 2
    assert sum("hook=request_finished plugin=broken" in m for m in messages) == 2
    assert all(r.exc_info is not None for r in failures)
    # The metrics plugin's request_finished still ran after the broken one: both requests counted.
    metrics = gateway.state.services["metrics"]
    assert wait_for(lambda: sum(sample.value for sample in metrics.requests.collect()[0].samples) == 2)


# --- tracing ----------------------------------------------------------------------------------


def test_trace_plugins_logs_every_hook_call_beside_the_request_line(
    start_gateway, fake: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = start_gateway(env={"LLMGATE_TRACE_PLUGINS": "1"})
    assert gateway.state.runner.trace is True
    key = make_key(gateway)
    with caplog.at_level(logging.INFO, logger="llmgate.requests"):
        answer = send(gateway, key)
        request_id = answer.headers["x-request-id"]

        def traced() -> list[dict[str, str]]:
            return [
                dict(part.split("=", 1) for part in r.getMessage().split())
                for r in caplog.records
                if r.name == "llmgate.requests" and r.getMessage().startswith("hook=")
            ]

        assert wait_for(lambda: any(t["hook"] == "request_finished" and t["plugin"] == "metrics" for t in traced()))
    calls = [(t["hook"], t["plugin"]) for t in traced() if t["request_id"] == request_id]
    for expected in [("authenticate", "api_key_auth"), ("resolve_mode", "key_mode"), ("admit_request", "rate_limits"),
                     ("transform_request", "bypass"), ("select_upstream", "shared_upstream"),
                     ("transform_response", "bypass"), ("request_finished", "metrics")]:
        assert expected in calls, (expected, calls)
    assert calls.index(("authenticate", "api_key_auth")) < calls.index(("transform_request", "bypass"))
    assert all(float(t["duration_ms"]) >= 0 for t in traced())


def test_tracing_is_off_by_default(gateway: GatewayServer) -> None:
    assert gateway.state.runner.trace is False


# --- what a request holds while it is served ------------------------------------------------


class BodyWatcher:
    """Notes what the request still holds at each later hook (a long stream keeps it for its life)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bool, bool, int, bool]] = []

    def note(self, hook: str, ctx: RequestContext) -> None:
        ureq = ctx.upstream_request
        self.seen.append(
            (hook, ctx.body is None, not ctx.request.body, ctx.request_bytes, bool(ureq and ureq.json))
        )

    @hookimpl
    def upstream_chosen(self, ctx: RequestContext, upstream: Upstream) -> None:
        self.note("upstream_chosen", ctx)

    @hookimpl
    def request_finished(self, ctx: RequestContext) -> None:
        self.note("request_finished", ctx)


@pytest.mark.parametrize("mode", ["bypass", "emulator"])
@pytest.mark.parametrize("stream", [False, True])
def test_the_client_body_is_released_once_the_upstream_request_is_built(
    start_gateway, fake: FakeOllama, mode: str, stream: bool
) -> None:
    watcher = BodyWatcher()
    gateway = start_gateway(extra_plugins={"body_watcher": watcher})
    fake.queue(Reply(content="fine"))
    response = send(gateway, make_key(gateway, mode=mode), mode, stream)
    assert response.status_code == 200 and "fine" in response.text
    # The model got the whole request all the same.
    [received] = fake.chat_requests()
    assert received.json["messages"][-1]["content"] == "hi"
    sent = len(orjson.dumps({**(CHAT if mode == "bypass" else RESPONSE), "stream": stream}))
    # Chosen: the client's body is gone (its size stays), and so is the upstream request's JSON: the
    # shared upstream is the only candidate, so nothing can fail over to another one once its bytes
    # are made (with candidates left it stays whole: test_core_failover). (A stream's client may have
    # read its last byte before the gateway finished the request.)
    assert wait_for(lambda: len(watcher.seen) == 2), watcher.seen
    assert watcher.seen == [
        ("upstream_chosen", True, True, sent, False),
        ("request_finished", True, True, sent, False),
    ]


# --- request_finished when the client leaves ----------------------------------------------------


class SlowBookkeeping:
    """A request_finished that awaits (as the Redis-backed quotas and stream slots do)."""

    def __init__(self) -> None:
        self.finished: list[int] = []

    @hookimpl
    async def request_finished(self, ctx: RequestContext) -> None:
        await asyncio.sleep(0.3)
        self.finished.append(ctx.status)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_request_finished_completes_when_the_client_hangs_up_after_the_last_byte(
    start_gateway, fake: FakeOllama, stream: bool
) -> None:
    plugin = SlowBookkeeping()
    gateway = start_gateway(extra_plugins={"slow_bookkeeping": plugin})
    key = make_key(gateway)
    for _ in range(3):
        # httpx.post closes its connection as soon as the answer is read: Sanic then cancels the
        # request's task, which is still in request_finished.
        assert send(gateway, key, stream=stream).status_code == 200
    assert wait_for(lambda: len(plugin.finished) == 3), plugin.finished
    assert plugin.finished == [200, 200, 200]
