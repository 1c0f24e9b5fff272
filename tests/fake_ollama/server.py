"""FakeOllama: a real loopback HTTP server that answers like Ollama (local daemon or ollama.com)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from . import formats as fmt
from .formats import Answer, Ctx
from .http11 import LAST_CHUNK, Connection, Request, frame
from .models import (
    default_models, find_model, normalize, openai_list, openai_model, ps_body, show_body, tags_body
)  # fmt: skip
from .replies import DEFAULT_CONTENT, KeyBehaviour, Reply, error_text

try:  # faster loop when present (it comes with sanic); plain asyncio otherwise
    import uvloop

    _new_loop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
except ImportError:  # pragma: no cover
    _new_loop = asyncio.new_event_loop

OLLAMA_VERSION = "0.13.5"
# What a local Ollama picks without num_ctx or OLLAMA_CONTEXT_LENGTH on a machine with under 24 GiB of VRAM.
DEFAULT_NUM_CTX = 4096
_PUBLIC_PATHS = frozenset({"/", "/api/version"})
_NO_BODY = object()  # request had no body
_BAD_JSON = object()  # request body was not JSON


@dataclass(slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    json: Any | None
    bearer: str | None
    query: str = ""
    body: bytes = b""


class FakeOllama:
    """A fake Ollama on a real socket, served from a background thread (start/stop or `with`).

    Script it from the test thread:
      queue(*replies, times=1)  next chat requests (/api/chat and /v1/chat/completions share it)
      default_reply             used when the queue is empty
      keys[key] = KeyBehaviour  per `Authorization: Bearer <key>`: me, usage, reply, status
      require_auth              unknown or missing Bearer -> 401 {"error":"unauthorized"}
      strict_models             unknown model -> 404 like Ollama (else any name is served)
      models                    /api/tags entries (make_model() builds one)
      loaded[name] = num_ctx    models /api/ps lists as loaded, with their context length; a chat
                                loads its model at options.num_ctx, else at default_num_ctx (capped
                                at the model's own context length, as Ollama does)
      record                    keep RecordedRequests in `requests` (turn off for benchmarks)
    Observe: requests, chat_requests(), request_count, connections (accepted TCP connections),
    open_connections, open_streams, client_disconnects, queued; wait_until(predicate).
    reset() between tests.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        strict_models: bool = False,
        require_auth: bool = False,
        record: bool = True,
        reuse_port: bool = False,
    ) -> None:
        self.host = host
        self.reuse_port = reuse_port  # several processes share the port (CLI --workers)
        self.port = port
        self.strict_models = strict_models
        self.require_auth = require_auth
        self.record = record
        self.version = OLLAMA_VERSION
        self._initial = (strict_models, require_auth)
        self.models: list[dict[str, Any]] = default_models()
        self.loaded: dict[str, int] = {}
        self.default_num_ctx = DEFAULT_NUM_CTX
        self.default_reply = Reply(content=DEFAULT_CONTENT)
        self.keys: dict[str, KeyBehaviour] = {}
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Reply] = deque()
        # Live state, only changed on the server's loop thread.
        self.open_streams = 0
        self.open_connections = 0
        # Counters, cleared by reset().
        self.client_disconnects = 0
        self.request_count = 0
        self.connections = 0  # TCP connections accepted (keep-alive reuse shows as few)
        self._call_ids = itertools.count(1)
        self._chat_ids = itertools.count()
        self._conns: set[Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop_fut: asyncio.Future[None] | None = None
        self._routes: dict[str, dict[str, Callable[..., Answer | None]]] = {
            "/": {"GET": self._root},
            "/api/version": {"GET": self._api_version},
            "/api/tags": {"GET": self._api_tags},
            "/api/show": {"POST": self._api_show},
            "/api/ps": {"GET": self._api_ps},
            "/api/me": {"POST": self._api_me},
            "/api/usage": {"GET": self._api_usage},
            "/api/chat": {"POST": self._api_chat},
            "/v1/chat/completions": {"POST": self._v1_chat},
            "/v1/models": {"GET": self._v1_models},
        }

    # ------------------------------------------------------------ test-facing API

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def queue(self, *replies: Reply, times: int = 1) -> None:
        """The next chat requests (either API) take these replies in order."""
        for _ in range(times):
            self._queue.extend(replies)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def reset(self) -> None:
        """Back to a fresh server for the next test: queue, keys, recordings and counters cleared,
        and strict_models / require_auth / models / default_reply back to their defaults.
        `record` is left alone (a benchmark's choice); live connections are untouched."""
        self.strict_models = self._initial[0]
        self.require_auth = self._initial[1]
        self.models = default_models()
        self.loaded.clear()
        self.default_num_ctx = DEFAULT_NUM_CTX
        self.default_reply = Reply(content=DEFAULT_CONTENT)
        self._queue.clear()
        self.keys.clear()
        self.requests.clear()
        self.client_disconnects = 0
        self.request_count = 0
        self.connections = 0
        self._call_ids = itertools.count(1)
        self._chat_ids = itertools.count()

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
        """Poll `predicate` (e.g. lambda: fake.open_streams == 0) from the test thread."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path in ("/api/chat", "/v1/chat/completions")]

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeOllama:
        """Serve from a background thread with its own loop; returns once listening."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            loop = _new_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(ready.set))
            except BaseException as e:  # reported to start()'s caller
                failure.append(e)
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=main, name=f"fake-ollama-{self.port}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop may have closed already
            loop.call_soon_threadsafe(self._request_stop)
        thread.join(10)
        self._thread = None

    def __enter__(self) -> FakeOllama:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run_forever(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve in the foreground until SIGINT/SIGTERM (the CLI)."""
        loop = _new_loop()
        asyncio.set_event_loop(loop)

        def ready() -> None:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self._request_stop)
            if on_ready is not None:
                on_ready()

        try:
            loop.run_until_complete(self._serve(ready))
        finally:
            loop.close()

    def _request_stop(self) -> None:
        if self._stop_fut is not None and not self._stop_fut.done():
            self._stop_fut.set_result(None)

    async def _serve(self, on_ready: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stop_fut = loop.create_future()
        server = await loop.create_server(
            lambda: Connection(self._handle, self._conn_opened, self._conn_closed),
            self.host,
            self.port,
            reuse_address=True,
            reuse_port=self.reuse_port or None,
            backlog=4096,
        )
        self.port = server.sockets[0].getsockname()[1]
        on_ready()
        try:
            await self._stop_fut
        finally:
            server.close()
            for conn in list(self._conns):
                conn.abort()
            tasks = list(self._tasks)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(0)  # let connection_lost callbacks run
            self._loop = None

    def _conn_opened(self, conn: Connection) -> None:
        self._conns.add(conn)
        self.connections += 1
        self.open_connections += 1

    def _conn_closed(self, conn: Connection) -> None:
        self._conns.discard(conn)
        self.open_connections -= 1

    # ------------------------------------------------------------ dispatch

    def _handle(self, conn: Connection, req: Request) -> bool:
        self.request_count += 1
        path = req.path
        methods = self._routes.get(path)
        if methods is None and path.startswith("/v1/models/"):
            methods = {"GET": self._v1_model}
        if methods is None:
            if self.record:
                self._record(req, None, None)
            conn.send(404, fmt.TEXT_GIN_404, b"404 page not found", req)
            return False
        head_only = req.method == "HEAD"
        handler = methods.get("GET" if head_only else req.method)
        if handler is None:
            if self.record:
                self._record(req, None, None)
            conn.send(405, fmt.TEXT_GIN_404, b"405 method not allowed", req)
            return False

        data: Any = _NO_BODY
        if req.body:
            try:
                data = orjson.loads(req.body)
            except orjson.JSONDecodeError:
                data = _BAD_JSON
        auth = req.header("authorization")
        bearer = auth[7:].strip() if auth is not None and auth[:7].lower() == "bearer " else None
        if self.record:
            self._record(req, data, bearer)

        kb = self.keys.get(bearer) if bearer is not None else None
        answer: Answer | None
        if path in _PUBLIC_PATHS:
            answer = handler(conn, req, data, bearer, kb)
        elif kb is not None and kb.status:
            answer = self._error(path, kb.status, error_text(kb.status, kb.error))
        elif self.require_auth and kb is None:
            answer = self._error(path, 401, "unauthorized")
        else:
            answer = handler(conn, req, data, bearer, kb)
            if answer is None:  # a slow chat answer is on its way
                return True
        self._deliver(conn, req, answer, head_only)
        return False

    def _record(self, req: Request, data: Any, bearer: str | None) -> None:
        json_value = None if data is _NO_BODY or data is _BAD_JSON else data
        self.requests.append(
            RecordedRequest(req.method, req.path, req.headers, json_value, bearer, req.query, req.body)
        )

    @staticmethod
    def _error(path: str, status: int, message: str) -> Answer:
        if path.startswith("/v1/"):
            return fmt.openai_error(status, message)
        return fmt.native_error(status, message)

    def _deliver(self, conn: Connection, req: Request, answer: Answer, head_only: bool = False) -> None:
        """Write an answer that needs no waiting, in a single transport write."""
        if answer.parts is None:
            if answer.drop:
                conn.close()  # FIN, not RST: the client sees a server that hung up
                return
            conn.send(answer.status, answer.content_type, answer.body or b"", req, head_only)
            return
        out = [conn.start_stream(answer.status, answer.content_type, req)]
        out.extend(frame(p) for p in answer.parts)
        if answer.drop:
            conn.write(b"".join(out))
            conn.close()  # flushes what was written, leaves the chunked body unterminated
            return
        out.append(LAST_CHUNK)
        conn.write(b"".join(out))

    async def _deliver_slowly(self, conn: Connection, req: Request, answer: Answer, reply: Reply) -> None:
        streaming = answer.parts is not None
        keep_alive = req.keep_alive and not answer.drop
        try:
            if reply.first_token_delay and await conn.wait_closed(reply.first_token_delay):
                self.client_disconnects += 1
                return
            if answer.parts is None:
                if reply.stall_after_first and answer.status == 200:
                    await conn.wait_closed(None)  # a stuck upstream: no answer at all
                    self.client_disconnects += 1
                    return
                self._deliver(conn, req, answer)
                return
            conn.write(conn.start_stream(answer.status, answer.content_type, req))
            for i, part in enumerate(answer.parts):
                if i and reply.chunk_delay and await conn.wait_closed(reply.chunk_delay):
                    self.client_disconnects += 1
                    return
                if conn.gone:
                    self.client_disconnects += 1
                    return
                conn.write(frame(part))
                if conn.paused:
                    await conn.drain()
                if i == 0 and reply.stall_after_first and answer.status == 200:
                    await conn.wait_closed(None)
                    self.client_disconnects += 1
                    return
            if conn.gone:
                self.client_disconnects += 1
                return
            if answer.drop:
                conn.close()
                return
            conn.write(LAST_CHUNK)
        finally:
            if streaming:
                self.open_streams -= 1
            conn.finish(keep_alive)

    # ------------------------------------------------------------ chat

    def _pick_reply(self, kb: KeyBehaviour | None) -> Reply:
        if kb is not None and kb.reply is not None:
            return kb.reply
        try:
            return self._queue.popleft()
        except IndexError:
            return self.default_reply

    def _next_call_id(self) -> str:
        # Real ids are "call_" + 8 random [a-z0-9]; a counter keeps that shape and is predictable.
        return f"call_{next(self._call_ids):08d}"

    def _ctx(self, req: Request, model: str, openai: bool = False, include_usage: bool = False) -> Ctx:
        return Ctx(
            model,
            max(1, len(req.body) // 4),  # the rendered prompt grows with messages and tools
            self._next_call_id,
            include_usage,
            # Ollama's ids are "chatcmpl-" + rand(0..998), not unique either.
            f"chatcmpl-{next(self._chat_ids) % 999}" if openai else "",
        )

    def _answer_chat(self, conn: Connection, req: Request, reply: Reply, answer: Answer) -> Answer | None:
        if not reply.needs_time:
            return answer
        if answer.parts is not None:
            self.open_streams += 1  # counted now, so tests see it as soon as the request is in
        task = asyncio.get_running_loop().create_task(self._deliver_slowly(conn, req, answer, reply))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return None

    def _api_chat(
        self, conn: Connection, req: Request, data: Any, bearer: str | None, kb: KeyBehaviour | None
    ) -> Answer | None:
        if data is _NO_BODY:
            return fmt.native_error(400, "missing request body")
        if data is _BAD_JSON or not isinstance(data, dict):
            return fmt.native_error(400, "invalid character in request body: not a JSON object")
        model = data.get("model")
        if not model or not isinstance(model, str):
            return fmt.native_error(400, "model is required")
        if self.strict_models and find_model(self.models, model) is None:
            return fmt.native_error(404, f"model '{model}' not found")
        if not data.get("messages"):
            keep_alive = data.get("keep_alive")
            return fmt.native_load(model, unload=keep_alive in (0, "0", "0s", "0m"))
        stream = data.get("stream")
        reply = self._pick_reply(kb)
        if reply.is_error:
            answer = fmt.native_error(reply.status, error_text(reply.status, reply.error))
        else:
            self._load(model, data.get("options"))
            answer = fmt.native_chat(reply, self._ctx(req, model), stream is None or bool(stream))
        return self._answer_chat(conn, req, reply, answer)

    def _v1_chat(
        self, conn: Connection, req: Request, data: Any, bearer: str | None, kb: KeyBehaviour | None
    ) -> Answer | None:
        if data is _NO_BODY:
            return fmt.openai_error(400, "EOF")
        if data is _BAD_JSON or not isinstance(data, dict):
            return fmt.openai_error(400, "invalid character in request body: not a JSON object")
        if not data.get("messages"):
            return fmt.openai_error(400, "[] is too short - 'messages'")
        model = data.get("model")
        if not model or not isinstance(model, str):
            return fmt.openai_error(400, "model is required")
        if self.strict_models and find_model(self.models, model) is None:
            return fmt.openai_error(404, f"model '{model}' not found")
        stream = bool(data.get("stream", False))
        opts = data.get("stream_options")
        include_usage = bool(isinstance(opts, dict) and opts.get("include_usage"))
        reply = self._pick_reply(kb)
        if reply.is_error:
            answer = fmt.openai_error(reply.status, error_text(reply.status, reply.error))
        else:
            answer = fmt.openai_chat(reply, self._ctx(req, model, True, include_usage), stream)
        return self._answer_chat(conn, req, reply, answer)

    # ------------------------------------------------------------ other endpoints

    def _root(
        self, conn: Connection, req: Request, data: Any, bearer: str | None, kb: KeyBehaviour | None
    ) -> Answer:
        return Answer(200, fmt.TEXT, b"Ollama is running")

    def _api_version(
        self, conn: Connection, req: Request, data: Any, bearer: str | None, kb: KeyBehaviour | None
    ) -> Answer:
        return Answer(200, fmt.JSON_GIN, orjson.dumps({"version": self.version}))

    def _api_tags(
        self, conn: Connection, req: Request, data: Any, bearer: str | None, kb: KeyBehaviour | None
    ) -> Answer:
        return Answer(200, fmt.JSON_GIN, orjson.dumps(tags_body(self.models)))

    def _load(self, model: str, options: Any) -> None:
        """Like Ollama: the model runs at the requested num_ctx, else the server's default."""
        wanted = options.get("num_ctx") if isinstance(options, dict) else None
        num_ctx = wanted if isinstance(wanted, int) and wanted > 0 else self.default_num_ctx
        own = show_body(find_model(self.models, model), model)["model_info"]
        limit = next((v for k, v in own.items() if k.endswith(".context_length")), num_ctx)
        self.loaded[normalize(model)] = min(num_ctx, limit)

    def _api_ps(
        self, conn: Connection, req: Request, data: Any, bearer: str | None, kb: KeyBehaviour | None
    ) -> Answer:
        return Answer(200, fmt.JSON_GIN, orjson.dumps(ps_body(self.models, self.loaded)))

    def _api_show(
        self, conn: Connection, req: Request, data: Any, bearer: str | None, kb: KeyBehaviour | None
    ) -> Answer:
        if data is _NO_BODY:
            return fmt.native_error(400, "missing request body")
        if data is _BAD_JSON or not isinstance(data, dict):
            return fmt.native_error(400, "invalid character in request body: not a JSON object")
        name = data.get("model") or data.get("name")
        if not name or not isinstance(name, str):
            return fmt.native_error(400, "model is required")
        model = find_model(self.models, name)
        if model is None and self.strict_models:
            return fmt.native_error(404, f"model '{name}' not found")
        return Answer(200, fmt.JSON_GIN, orjson.dumps(show_body(model, name)))

    def _api_me(
        self, conn: Connection, req: Request, data: Any, bearer: str | None, kb: KeyBehaviour | None
    ) -> Answer:
        if kb is not None and kb.me is not None:
            return Answer(200, fmt.JSON_GIN, orjson.dumps(kb.me))
        if bearer is None:
            return fmt.native_error(401, "unauthorized")
        return Answer(200, fmt.JSON_GIN, orjson.dumps(default_me(bearer)))

    def _api_usage(
        self, conn: Connection, req: Request, data: Any, bearer: str | None, kb: KeyBehaviour | None
    ) -> Answer:
        if kb is not None and kb.usage is not None:
            return Answer(200, fmt.JSON_GIN, orjson.dumps(kb.usage))
        if bearer is None:
            return fmt.native_error(401, "unauthorized")
        return Answer(200, fmt.JSON_GIN, orjson.dumps(default_usage()))

    def _v1_models(
        self, conn: Connection, req: Request, data: Any, bearer: str | None, kb: KeyBehaviour | None
    ) -> Answer:
        return Answer(200, fmt.JSON_PLAIN, orjson.dumps(openai_list(self.models)) + b"\n")

    def _v1_model(
        self, conn: Connection, req: Request, data: Any, bearer: str | None, kb: KeyBehaviour | None
    ) -> Answer:
        name = req.path[len("/v1/models/") :]
        if not name or (self.strict_models and find_model(self.models, name) is None):
            return fmt.openai_error(404, f"model '{name}' not found")
        return Answer(200, fmt.JSON_PLAIN, orjson.dumps(openai_model(name)) + b"\n")


def default_me(key: str) -> dict[str, Any]:
    """A stable account per key: ollama.com's UserResponse has a UUID id."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    return {
        "id": str(uuid.UUID(digest[:32])),
        "email": f"user-{digest[:8]}@example.com",
        "name": f"user-{digest[:8]}",
        "plan": "pro",
    }


def default_usage() -> dict[str, Any]:
    # Shape of ollama.com's undocumented GET /api/usage (PROTOCOLS.md section 3).
    now = datetime.now(UTC)
    week_start = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "activity": {
            "cost": 0,
            "period": {
                "start": week_start.isoformat().replace("+00:00", "Z"),
                "end": (week_start + timedelta(days=7)).isoformat().replace("+00:00", "Z"),
            },
            "models": [],
        },
        "limits": {"session": {"usage": 0.1}, "weekly": {"usage": 0.2}},
    }
