"""Every /v1/ route runs through the chain: /v1/models, the emulator's stored responses and Codex
downloads, and a third-party mode's own route get middleware, admission and request_finished."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from proxy.context import ClientResponse, ModeSpec, RequestContext, Route
from proxy.errors import RateLimited
from proxy.hookspecs import hookimpl
from tests.reliability.helpers import assert_openai_error
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer


@dataclass
class Seen:
    endpoint: str
    mode: str | None
    status: int | None
    request_id: str
    user: str | None


class Watches:
    """Middleware, admission and the observer of a third-party plugin, all writing down what they see."""

    def __init__(self, refuse: str | None = None) -> None:
        self.refuse = refuse  # the endpoint (as shown) to refuse
        self.wrapped: list[str] = []
        self.admitted: list[Seen] = []
        self.finished: list[Seen] = []

    @staticmethod
    def seen(ctx: RequestContext) -> Seen:
        user = ctx.principal.username if ctx.principal else None
        return Seen(str(ctx.endpoint), ctx.mode, ctx.status, ctx.request_id, user)

    @hookimpl
    async def wrap_request(self, ctx: RequestContext, call_next: Any) -> Any:
        self.wrapped.append(str(ctx.endpoint))
        ctx.response_headers["x-wrapped"] = "yes"
        return await call_next()

    @hookimpl
    def admit_request(self, ctx: RequestContext) -> RateLimited | None:
        self.admitted.append(self.seen(ctx))
        if str(ctx.endpoint) == self.refuse:
            return RateLimited("Slow down.", headers={"retry-after": "7"})
        return None

    @hookimpl
    def request_finished(self, ctx: RequestContext) -> None:
        self.finished.append(self.seen(ctx))


def get(gateway: GatewayServer, path: str, key: str | None = None, method: str = "GET") -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.request(method, gateway.url + path, headers=headers, timeout=15)


@pytest.mark.parametrize(
    ("path", "mode", "status", "shown"),
    [
        ("/v1/models", "bypass", 200, "GET /v1/models"),
        ("/v1/models", "emulator", 200, "GET /v1/models"),
        ("/v1/responses/resp_missing", "emulator", 404, "GET /v1/responses/{response_id}"),
        ("/v1/codex/config.toml", "emulator", 200, "GET /v1/codex/config.toml"),
        ("/v1/codex/catalog.json", "emulator", 200, "GET /v1/codex/catalog.json"),
    ],
)
def test_side_routes_run_through_the_chain(start_gateway, path: str, mode: str, status: int, shown: str) -> None:
    watch = Watches()
    gateway = start_gateway(extra_plugins={"watch": watch})
    response = get(gateway, path, make_key(gateway, mode=mode))
    assert response.status_code == status, response.text
    if status == 404:
        assert_openai_error(response, 404, "not_found_error", "response_not_found")
    else:
        assert response.headers["x-wrapped"] == "yes"  # the middleware's header reaches the client
    request_id = response.headers["x-request-id"]
    assert watch.wrapped == [shown]
    assert [(s.endpoint, s.mode, s.request_id, s.user) for s in watch.admitted] == [(shown, mode, request_id, "alice")]
    assert watch.finished == [Seen(shown, mode, status, request_id, "alice")]


def test_public_routes_need_no_key_and_still_run_through_the_chain(start_gateway) -> None:
    watch = Watches()
    gateway = start_gateway(extra_plugins={"watch": watch})
    config = get(gateway, "/v1/codex/config.toml")
    catalog = get(gateway, "/v1/codex/catalog.json", key="sk-not-a-key")  # a bad key loses nothing but itself
    assert config.status_code == 200 and config.headers["content-type"].startswith("application/toml")
    assert catalog.status_code == 200 and catalog.json()["models"]
    assert [(s.endpoint, s.mode, s.status, s.user) for s in watch.finished] == [
        ("GET /v1/codex/config.toml", "emulator", 200, None),
        ("GET /v1/codex/catalog.json", "emulator", 200, None),
    ]


def test_a_key_is_still_required_where_the_route_is_not_public(start_gateway) -> None:
    watch = Watches()
    gateway = start_gateway(extra_plugins={"watch": watch})
    assert_openai_error(get(gateway, "/v1/models"), 401, "authentication_error", "invalid_api_key")
    assert_openai_error(get(gateway, "/v1/responses/resp_x", method="DELETE"), 401, "authentication_error",
                        "invalid_api_key")  # fmt: skip
    assert watch.admitted == []  # admission runs only once the caller is known
    assert [(s.endpoint, s.status) for s in watch.finished] == [
        ("GET /v1/models", 401), ("DELETE /v1/responses/{response_id}", 401)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ("/v1/models", "GET /v1/models"),
        ("/v1/responses/resp_x", "GET /v1/responses/{response_id}"),
        ("/v1/codex/catalog.json", "GET /v1/codex/catalog.json"),
    ],
)
def test_admission_refuses_side_routes_in_the_openai_shape(start_gateway, path: str, refused: str) -> None:
    watch = Watches(refuse=refused)
    gateway = start_gateway(extra_plugins={"watch": watch})
    response = get(gateway, path, make_key(gateway, mode="emulator"))
    assert_openai_error(response, 429, "rate_limit_error", "rate_limit_exceeded")
    assert response.json()["error"]["message"] == "Slow down." and response.headers["retry-after"] == "7"
    assert [(s.endpoint, s.status) for s in watch.finished] == [(refused, 429)]


class EchoMode:
    """A third-party mode with one route of its own and no endpoint."""

    def __init__(self) -> None:
        self.called: list[str] = []

    @hookimpl
    def register_modes(self) -> list[ModeSpec]:
        return [ModeSpec("echo", (), "Says a word back.", routes=(Route("GET", "/v1/echo/<word:str>", self.echo),))]

    async def echo(self, ctx: RequestContext) -> ClientResponse:
        word = ctx.request.match_info["word"]
        self.called.append(word)
        return ClientResponse(200, orjson.dumps({"word": word, "user": ctx.principal.username}))  # type: ignore[union-attr]


def test_a_third_party_route_is_registered_and_guarded_by_the_core(start_gateway) -> None:
    watch, echo = Watches(), EchoMode()
    gateway = start_gateway(extra_plugins={"watch": watch, "echo": echo})
    answered = get(gateway, "/v1/echo/hello", make_key(gateway, mode="echo"))
    assert answered.status_code == 200 and answered.json() == {"word": "hello", "user": "alice"}
    wrong = get(gateway, "/v1/echo/again", make_key(gateway, mode="bypass"))
    error = assert_openai_error(wrong, 403, "permission_error", "wrong_key_mode")
    assert error["message"].startswith("This API key is a bypass key; GET /v1/echo/{word} belongs to the echo mode")
    assert echo.called == ["hello"]
    assert [(s.endpoint, s.mode, s.status) for s in watch.finished] == [
        ("GET /v1/echo/{word}", "echo", 200), ("GET /v1/echo/{word}", "bypass", 403)
    ]  # fmt: skip
