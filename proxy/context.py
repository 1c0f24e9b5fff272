"""The typed values that travel through the hook chain."""

from __future__ import annotations

import re
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from proxy.scrub import scrub_secrets

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sanic import Request

    from config.settings import Settings
    from proxy.state import AppState


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an API key and its owner, as the auth cache holds them."""

    user_id: int
    username: str
    api_key_id: int
    api_key_prefix: str
    mode: str
    is_admin: bool = False
    selected_model: str | None = None


@dataclass(frozen=True, slots=True)
class Upstream:
    """One place a request can be sent, in plain terms: the core knows no kinds of upstream.

    Plugins that offer candidates (``select_upstream``) fill in what the core needs to send the
    request; ``owner`` and ``ref`` let them recognise their own candidates in later hooks.
    """

    label: str  # shown in errors, logs and metrics; never contains a secret
    base_url: str
    api_key: str | None = None
    owner: str | None = None  # the plugin that offered this candidate; None for the shared upstream
    ref: Hashable = None  # the owner's own reference (e.g. a key's id); the core never reads it
    # Model-name endings this upstream does not understand, removed from the body's ``model``
    # before sending (Ollama Cloud knows ``gpt-oss:120b``; only a local daemon maps ``…-cloud``).
    drop_model_suffixes: tuple[str, ...] = ()
    # Merged into ``options`` of every native chat body (``/api/chat``) sent here, e.g.
    # ``(("num_ctx", 65536),)``; they win over the same options in the request. Pairs keep it hashable.
    chat_options: tuple[tuple[str, Any], ...] = ()

    def chat_option(self, name: str) -> Any:
        return next((value for key, value in self.chat_options if key == name), None)

    def model_name(self, model: str) -> str:
        """``model`` as this upstream knows it (without a suffix it does not understand)."""
        for suffix in self.drop_model_suffixes:
            if model.endswith(suffix):
                return model[: -len(suffix)]
        return model


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A route a mode serves, e.g. ``Endpoint("POST", "/v1/responses")``."""

    method: str
    path: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class ModeSpec:
    """What a mode plugin declares through ``register_modes``."""

    name: str
    endpoints: tuple[Endpoint, ...]
    description: str
    plugin: object = None  # the plugin object whose hooks belong to this mode
    # None: the HTTP status waits for the first chunk of the mode's stream (the upstream's first
    # bytes, or a keepalive the mode sends while it waits). A number: after that many seconds
    # without an answer the stream is committed (200) and the mode keeps the client informed.
    commit_after_seconds: float | None = None
    # Further API routes of this mode (stored responses, a download): registered and run through
    # the chain by the core, like the endpoints.
    routes: tuple[Route, ...] = ()


_PARAMETER = re.compile(r"<(\w+)(?::[^>]*)?>")


@dataclass(frozen=True, slots=True)
class Route:
    """An API route a mode serves beside its endpoints, answered by ``handler(ctx)``.

    ``path`` uses Sanic's syntax (``/v1/responses/<response_id:str>``); the values are in
    ``ctx.request.match_info``. The request runs through the chain: ``wrap_request``,
    authentication, ``admit_request`` (``ctx.body`` is None), then the handler, then
    ``request_finished``. Only keys of the owning mode may call it, unless ``public``: then no key
    is needed (``ctx.principal`` is None), a key that is sent and valid still sets the principal,
    and ``ctx.mode`` is the owning mode either way. ``about`` completes the refusal a key of
    another mode gets ("stored responses belong to the Responses API").
    """

    method: str
    path: str
    handler: Callable[[RequestContext], Awaitable[ClientResponse]]
    public: bool = False
    about: str = ""
    # What logs, metrics and errors show: the path with ``{name}`` for each parameter.
    endpoint: Endpoint = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "endpoint", Endpoint(self.method, _PARAMETER.sub(r"{\1}", self.path)))


@dataclass(slots=True)
class UpstreamRequest:
    """What a mode wants sent: a JSON body to a path below the upstream's base URL.

    ``headers`` (None: none of its own) are merged over the gateway's defaults (user agent, JSON
    content type, identity encoding, the upstream's key) for every candidate; a header named here
    wins. Plugins add them in ``prepare_upstream_request``. Once failover is over (an answer is
    open, or a stream's first committed output is out) ``json`` is emptied: a long stream does not
    hold the history it sent.
    """

    path: str
    json: dict[str, Any]
    stream: bool
    method: str = "POST"
    headers: dict[str, str] | None = None


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(slots=True)
class ClientResponse:
    """A complete (non-streaming) answer to the client."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class UpstreamFailure:
    """An attempt that did not yield a usable answer. ``status`` None: no HTTP answer at all.

    ``message`` is scrubbed when the failure is made (``proxy.scrub``): it is stored, logged and
    returned to the client from here on, so no path can forget to.
    """

    upstream: Upstream
    status: int | None
    message: str
    # Set once output reached the client: failover is no longer possible.
    after_output: bool = False

    def __post_init__(self) -> None:
        self.message = scrub_secrets(self.message, self.upstream.api_key)


@dataclass(slots=True)
class RequestContext:
    """Everything a hook may need about one API request."""

    request: Request
    settings: Settings
    state: AppState
    endpoint: Endpoint
    request_id: str
    started: float = field(default_factory=time.perf_counter)
    principal: Principal | None = None
    mode: str | None = None
    # The parsed client body: set before ``admit_request``, released (None) once ``transform_request``
    # has built the upstream request. ``request_bytes`` (the raw body's size) stays.
    body: dict[str, Any] | None = None
    request_bytes: int = 0
    upstream_request: UpstreamRequest | None = None
    candidates: list[Upstream] = field(default_factory=list)
    upstream: Upstream | None = None  # the candidate that served the request
    upstream_model: str | None = None
    failures: list[UpstreamFailure] = field(default_factory=list)
    status: int = 200
    stream: bool = False
    usage: Usage = field(default_factory=Usage)
    response_headers: dict[str, str] = field(default_factory=dict)
    # Plugin-private values, keyed by plugin name.
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def user_id(self) -> int | None:
        return self.principal.user_id if self.principal else None
