"""A fast, faithful fake Ollama HTTP server for tests and benchmarks.

    from tests.fake_ollama import FakeOllama, Reply, KeyBehaviour

    with FakeOllama() as fake:                      # real HTTP/1.1 on 127.0.0.1, random port
        fake.queue(Reply(content="Hi", thinking="hmm"), Reply(status=503))
        fake.keys["key-a"] = KeyBehaviour(reply=Reply(status=429))
        ... point the gateway at fake.url ...
        fake.requests[-1].json, fake.open_streams, fake.client_disconnects

Endpoints: POST /api/chat, POST /v1/chat/completions, GET /api/tags, GET /v1/models[/{model}],
POST /api/show, GET /api/ps, POST /api/me, GET /api/usage, GET /, GET /api/version.
CLI: python -m tests.fake_ollama --port 11434 [--tokens N] [--delay S]
"""

from __future__ import annotations

from .models import default_models, make_model
from .replies import (
    CONCURRENCY_LIMIT,
    DEFAULT_CONTENT,
    SESSION_LIMIT,
    WEEKLY_LIMIT,
    KeyBehaviour,
    Reply,
    split_words,
)
from .server import FakeOllama, RecordedRequest, default_me, default_usage

__all__ = [
    "CONCURRENCY_LIMIT",
    "DEFAULT_CONTENT",
    "SESSION_LIMIT",
    "WEEKLY_LIMIT",
    "FakeOllama",
    "KeyBehaviour",
    "RecordedRequest",
    "Reply",
    "default_me",
    "default_models",
    "default_usage",
    "make_model",
    "split_words",
]
