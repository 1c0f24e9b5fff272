"""Tests of the fake Ollama server itself: shapes, streaming, errors, keys, disconnects, keep-alive."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fake_ollama import (
    DEFAULT_CONTENT,
    SESSION_LIMIT,
    FakeOllama,
    KeyBehaviour,
    Reply,
    make_model,
)

MSGS = [{"role": "user", "content": "hi"}]
WEATHER = {"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOllama]:
    with FakeOllama() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeOllama) -> Iterator[FakeOllama]:
    server.reset()
    server.record = True
    yield server
    server.reset()


@pytest.fixture
def client(fake: FakeOllama) -> Iterator[httpx.Client]:
    # verify=False: a default Client loads the CA bundle, ~50 ms per test for plain-HTTP tests.
    with httpx.Client(base_url=fake.url, timeout=5, verify=False) as c:
        yield c


def ndjson(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line]


def sse(text: str) -> list[Any]:
    """data payloads of an SSE body; "[DONE]" stays a string."""
    out: list[Any] = []
    for block in text.split("\n\n"):
        if block.startswith("data: "):
            data = block[6:]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def raw_http(fake: FakeOllama, payload: bytes) -> bytes:
    """Send raw bytes, read until the server closes (requests should say Connection: close)."""
    with socket.create_connection((fake.host, fake.port), timeout=3) as s:
        s.sendall(payload)
        chunks = []
        while data := s.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def http_chunks(body: bytes) -> list[bytes]:
    """Decode a chunked body into its chunks, keeping the boundaries."""
    out, pos = [], 0
    while True:
        eol = body.index(b"\r\n", pos)
        size = int(body[pos:eol], 16)
        if size == 0:
            return out
        out.append(body[eol + 2 : eol + 2 + size])
        pos = eol + 2 + size + 2


def post_raw(path: str, obj: Any, extra: str = "") -> bytes:
    body = json.dumps(obj).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}"
    return head.encode() + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body


# ---------------------------------------------------------------- native /api/chat


def test_native_stream_default_reply(client: httpx.Client) -> None:
    r = client.post("/api/chat", json={"model": "llama3.2", "messages": MSGS})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-ndjson"
    assert r.headers["transfer-encoding"] == "chunked"
    lines = ndjson(r.text)
    assert len(lines) > 3
    *chunks, done = lines
    assert "".join(c["message"]["content"] for c in chunks) == DEFAULT_CONTENT
    for c in chunks:
        assert list(c) == ["model", "created_at", "message", "done"]
        assert c["model"] == "llama3.2" and c["done"] is False
        assert c["message"]["role"] == "assistant"
        assert c["created_at"].endswith("Z")
    assert done["done"] is True and done["done_reason"] == "stop"
    assert done["message"] == {"role": "assistant", "content": ""}
    for key in ("total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration"):
        assert isinstance(done[key], int) and done[key] > 0
    assert done["eval_count"] >= len(chunks) and done["eval_duration"] > 0


def test_native_stream_one_http_chunk_per_line(fake: FakeOllama) -> None:
    fake.queue(Reply(content="one two three", thinking="why"), Reply(content="a b", chunk_delay=0.001))
    for _ in range(2):  # written in one go, and written slowly
        raw = raw_http(fake, post_raw("/api/chat", {"model": "m", "messages": MSGS}))
        head, body = raw.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 OK")
        chunks = http_chunks(body)
        assert all(c.endswith(b"\n") and c.count(b"\n") == 1 for c in chunks)
        assert json.loads(chunks[-1])["done"] is True


def test_native_thinking_content_tool_calls_order(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(content="Let me check.", thinking="User wants weather.", tool_calls=[WEATHER, WEATHER]))
    lines = ndjson(client.post("/api/chat", json={"model": "m", "messages": MSGS}).text)
    kinds = []
    for line in lines[:-1]:
        msg = line["message"]
        kinds.append("thinking" if msg.get("thinking") else "tools" if msg.get("tool_calls") else "content")
    assert kinds == sorted(kinds, key=["thinking", "content", "tools"].index)
    assert kinds.count("tools") == 1
    thinking = "".join(m["message"].get("thinking", "") for m in lines)
    assert thinking == "User wants weather."
    assert all(m["message"]["content"] == "" for m in lines if m["message"].get("thinking"))
    calls = lines[-2]["message"]["tool_calls"]
    assert [c["function"]["index"] for c in calls] == [0, 1]
    assert calls[0]["function"] == {
        "index": 0,
        "name": "get_weather",
        "arguments": {"city": "Paris", "unit": "c"},
    }
    assert calls[0]["id"].startswith("call_") and calls[0]["id"] != calls[1]["id"]
    assert lines[-1]["done"] is True and lines[-1]["done_reason"] == "stop"


def test_native_legacy_tool_calls_have_no_id_or_index(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(tool_calls=[WEATHER], legacy_tool_calls=True))
    lines = ndjson(client.post("/api/chat", json={"model": "m", "messages": MSGS}).text)
    assert lines[0]["message"]["tool_calls"] == [
        {"function": {"name": "get_weather", "arguments": WEATHER["arguments"]}}
    ]


def test_native_non_stream(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(content="Hi there.", thinking="Greet.", tool_calls=[{**WEATHER, "id": "call_fixed"}]))
    r = client.post("/api/chat", json={"model": "qwen3:8b", "messages": MSGS, "stream": False})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    obj = r.json()
    assert obj["message"] == {
        "role": "assistant",
        "content": "Hi there.",
        "thinking": "Greet.",
        "tool_calls": [{"id": "call_fixed", "function": {"index": 0, **WEATHER}}],
    }
    assert obj["done"] is True and obj["done_reason"] == "stop" and obj["model"] == "qwen3:8b"
    assert list(obj)[:5] == ["model", "created_at", "message", "done", "done_reason"]
    assert obj["eval_count"] > 0 and obj["prompt_eval_count"] > 0


def test_native_counts_and_length(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(content="x" * 10, done_reason="length", prompt_eval_count=7, eval_count=3))
    obj = client.post("/api/chat", json={"model": "m", "messages": MSGS, "stream": False}).json()
    assert (obj["done_reason"], obj["prompt_eval_count"], obj["eval_count"]) == ("length", 7, 3)


def test_tokens_splits_content_evenly(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(content="abcdefghij", tokens=3))
    lines = ndjson(client.post("/api/chat", json={"model": "m", "messages": MSGS}).text)
    assert [line["message"]["content"] for line in lines[:-1]] == ["abcd", "efg", "hij"]


def test_native_validation_errors(fake: FakeOllama, client: httpx.Client) -> None:
    r = client.post("/api/chat", json={"messages": MSGS})
    assert (r.status_code, r.json()) == (400, {"error": "model is required"})
    r = client.post("/api/chat", content=b"")
    assert (r.status_code, r.json()) == (400, {"error": "missing request body"})
    assert client.post("/api/chat", content=b"{nope").status_code == 400
    assert client.post("/api/chat", json={"model": "anything-goes", "messages": MSGS}).status_code == 200
    fake.strict_models = True
    r = client.post("/api/chat", json={"model": "nope", "messages": MSGS})
    assert (r.status_code, r.json()) == (404, {"error": "model 'nope' not found"})
    for name in ("llama3.2", "llama3.2:latest", "qwen3:8b"):
        assert (
            client.post("/api/chat", json={"model": name, "messages": MSGS, "stream": False}).status_code
            == 200
        )
    assert fake.queued == 0


def test_native_empty_messages_loads_model(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(content="kept"))
    obj = client.post("/api/chat", json={"model": "m", "messages": []}).json()
    assert obj["done"] is True and obj["done_reason"] == "load"
    obj = client.post("/api/chat", json={"model": "m", "keep_alive": 0}).json()
    assert obj["done_reason"] == "unload"
    assert fake.queued == 1  # a load does not consume a reply


def test_native_status_error(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(status=429), Reply(status=503, error="Server overloaded"))
    r = client.post("/api/chat", json={"model": "m", "messages": MSGS})
    assert (r.status_code, r.json()) == (429, {"error": SESSION_LIMIT})
    r = client.post("/api/chat", json={"model": "m", "messages": MSGS, "stream": False})
    assert (r.status_code, r.json()) == (503, {"error": "Server overloaded"})


def test_native_mid_stream_error(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(content="partial answer", mid_stream_error="model runner crashed"), times=2)
    r = client.post("/api/chat", json={"model": "m", "messages": MSGS})
    lines = ndjson(r.text)
    assert r.status_code == 200
    assert lines[-1] == {"error": "model runner crashed"}
    assert not any(line.get("done") for line in lines)
    assert "".join(line["message"]["content"] for line in lines[:-1]) == "partial answer"
    r = client.post("/api/chat", json={"model": "m", "messages": MSGS, "stream": False})
    assert (r.status_code, r.json()) == (500, {"error": "model runner crashed"})


def test_native_truncate(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(content="cut short here", truncate=True), times=2)
    lines = ndjson(client.post("/api/chat", json={"model": "m", "messages": MSGS}).text)
    assert lines and not any(line["done"] for line in lines)
    obj = client.post("/api/chat", json={"model": "m", "messages": MSGS, "stream": False}).json()
    assert obj["done"] is False and "done_reason" not in obj and obj["message"]["content"] == "cut short here"


def test_drop_connection(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(content="a b c", drop_connection=True), Reply(drop_connection=True))
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/api/chat", json={"model": "m", "messages": MSGS})
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/api/chat", json={"model": "m", "messages": MSGS, "stream": False})
    assert client.get("/api/tags").status_code == 200  # the client reconnects


def test_garbage(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(garbage=True), times=3)
    r = client.post("/api/chat", json={"model": "m", "messages": MSGS})
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        ndjson(r.text)
    r = client.post("/api/chat", json={"model": "m", "messages": MSGS, "stream": False})
    with pytest.raises(json.JSONDecodeError):
        r.json()
    r = client.post("/v1/chat/completions", json={"model": "m", "messages": MSGS, "stream": True})
    with pytest.raises(json.JSONDecodeError):
        sse(r.text)


# ---------------------------------------------------------------- OpenAI-compatible


def test_openai_stream(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(content="It is sunny.", thinking="Check weather.", tool_calls=[WEATHER]))
    body = {
        "model": "gpt-oss:120b",
        "messages": MSGS,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
    events = sse(r.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    for c in chunks:
        assert c["object"] == "chat.completion.chunk" and c["model"] == "gpt-oss:120b"
        assert c["system_fingerprint"] == "fp_ollama"
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0]["role"] == "assistant" and all("role" not in d for d in deltas[1:])
    assert "".join(d.get("reasoning", "") for d in deltas) == "Check weather."
    assert "".join(d.get("content", "") for d in deltas) == "It is sunny."
    (call,) = [tc for d in deltas for tc in d.get("tool_calls", [])]
    assert call["type"] == "function" and call["index"] == 0 and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == WEATHER["arguments"]
    finish = chunks[-2]
    assert finish["choices"] == [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]
    usage = chunks[-1]
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == (
        usage["usage"]["prompt_tokens"] + usage["usage"]["completion_tokens"]
    )
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-2])


def test_openai_stream_without_usage_and_length(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(content="abc", done_reason="length"))
    events = sse(
        client.post("/v1/chat/completions", json={"model": "m", "messages": MSGS, "stream": True}).text
    )
    assert events[-1] == "[DONE]"
    assert events[-2]["choices"][0]["finish_reason"] == "length"
    assert not any("usage" in e for e in events[:-1])


def test_openai_non_stream(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(content="Hi.", thinking="Greet.", prompt_eval_count=11, eval_count=4))
    r = client.post("/v1/chat/completions", json={"model": "m", "messages": MSGS})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    obj = r.json()
    assert obj["object"] == "chat.completion" and obj["id"].startswith("chatcmpl-")
    assert obj["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi.", "reasoning": "Greet."},
            "finish_reason": "stop",
        }
    ]
    assert obj["usage"] == {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}
    fake.queue(Reply(tool_calls=[WEATHER]))
    obj = client.post("/v1/chat/completions", json={"model": "m", "messages": MSGS}).json()
    assert obj["choices"][0]["finish_reason"] == "tool_calls"
    assert obj["choices"][0]["message"]["content"] == ""


def test_openai_errors(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(status=429))
    r = client.post("/v1/chat/completions", json={"model": "m", "messages": MSGS, "stream": True})
    assert r.status_code == 429
    assert r.json() == {"error": {"message": SESSION_LIMIT, "type": "api_error", "param": None, "code": None}}
    r = client.post("/v1/chat/completions", json={"model": "m", "messages": []})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = client.post("/v1/chat/completions", json={"messages": MSGS})
    assert r.status_code == 400 and r.json()["error"]["message"] == "model is required"
    fake.strict_models = True
    r = client.post("/v1/chat/completions", json={"model": "nope", "messages": MSGS})
    assert r.status_code == 404
    assert r.json()["error"] == {
        "message": "model 'nope' not found",
        "type": "not_found_error",
        "param": None,
        "code": None,
    }


def test_openai_mid_stream_error_and_truncate(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(content="a b", mid_stream_error="boom"), Reply(content="a b", truncate=True))
    body = {"model": "m", "messages": MSGS, "stream": True}
    events = sse(client.post("/v1/chat/completions", json=body).text)
    assert events[-1] == {"error": {"message": "boom", "type": "api_error", "param": None, "code": None}}
    assert "[DONE]" not in events
    events = sse(client.post("/v1/chat/completions", json=body).text)
    assert "[DONE]" not in events and all(e["choices"][0]["finish_reason"] is None for e in events)


def test_queue_is_shared_in_order(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(content="first"), Reply(content="second"), times=2)
    got = []
    for i in range(5):
        if i % 2:
            got.append(
                client.post("/v1/chat/completions", json={"model": "m", "messages": MSGS}).json()["choices"][
                    0
                ]["message"]["content"]
            )
        else:
            got.append(
                client.post("/api/chat", json={"model": "m", "messages": MSGS, "stream": False}).json()[
                    "message"
                ]["content"]
            )
    assert got == ["first", "second", "first", "second", DEFAULT_CONTENT]


# ---------------------------------------------------------------- catalogue endpoints


def test_tags_and_openai_models(fake: FakeOllama, client: httpx.Client) -> None:
    models = client.get("/api/tags").json()["models"]
    assert [m["name"] for m in models] == ["llama3.2:latest", "qwen3:8b", "gpt-oss:120b"]
    for m in models:
        assert {"name", "model", "modified_at", "size", "digest", "details"} <= set(m)
        assert {"format", "family", "families", "parameter_size", "quantization_level"} <= set(m["details"])
    listing = client.get("/v1/models").json()
    assert listing["object"] == "list"
    assert listing["data"][0] == {
        "id": "llama3.2:latest",
        "object": "model",
        "created": listing["data"][0]["created"],
        "owned_by": "library",
    }
    assert client.get("/v1/models/qwen3:8b").json()["id"] == "qwen3:8b"
    fake.models = [make_model("me/custom")]
    assert client.get("/v1/models").json()["data"][0] == {
        "id": "me/custom:latest",
        "object": "model",
        "created": listing["data"][0]["created"],
        "owned_by": "me",
    }
    fake.models = []
    assert client.get("/v1/models").json() == {"object": "list", "data": None}  # Go's nil slice
    fake.strict_models = True
    assert client.get("/v1/models/qwen3:8b").status_code == 404


def test_ps_lists_models_at_the_context_they_were_loaded_with(fake: FakeOllama, client: httpx.Client) -> None:
    assert client.get("/api/ps").json() == {"models": []}
    chat = {"messages": [{"role": "user", "content": "hi"}], "stream": False}
    client.post("/api/chat", json={**chat, "model": "llama3.2"})
    client.post("/api/chat", json={**chat, "model": "qwen3:8b", "options": {"num_ctx": 65536}})
    loaded = {m["name"]: m["context_length"] for m in client.get("/api/ps").json()["models"]}
    # The server's default without num_ctx; a request's num_ctx capped at the model's own 40,960.
    assert loaded == {"llama3.2:latest": 4096, "qwen3:8b": 40_960}


def test_head_request(client: httpx.Client) -> None:
    r = client.head("/api/tags")
    assert r.status_code == 200 and r.content == b"" and int(r.headers["content-length"]) > 0


def test_show(fake: FakeOllama, client: httpx.Client) -> None:
    obj = client.post("/api/show", json={"model": "qwen3:8b"}).json()
    assert obj["model_info"]["general.architecture"] == "qwen3"
    assert obj["model_info"]["qwen3.context_length"] == 40960
    assert obj["capabilities"] == ["completion", "tools", "thinking"]
    assert obj["details"]["family"] == "qwen3"
    assert client.post("/api/show", json={"model": "llama3.2"}).json()["capabilities"] == [
        "completion",
        "tools",
    ]
    assert "llama.context_length" in client.post("/api/show", json={"model": "whatever"}).json()["model_info"]
    assert client.post("/api/show", json={}).status_code == 400
    fake.strict_models = True
    r = client.post("/api/show", json={"model": "whatever"})
    assert (r.status_code, r.json()) == (404, {"error": "model 'whatever' not found"})


def test_root_version_unknown_path_and_method(client: httpx.Client) -> None:
    assert client.get("/").text == "Ollama is running"
    assert "version" in client.get("/api/version").json()
    r = client.get("/api/nothing")
    assert (r.status_code, r.text) == (404, "404 page not found")
    r = client.get("/api/chat")
    assert r.status_code == 405


# ---------------------------------------------------------------- accounts and keys


def test_me_and_usage_defaults(fake: FakeOllama, client: httpx.Client) -> None:
    auth = {"Authorization": "Bearer secret-key-a"}
    me = client.post("/api/me", headers=auth).json()
    assert set(me) == {"id", "email", "name", "plan"} and me["plan"] == "pro"
    uuid.UUID(me["id"])
    assert client.post("/api/me", headers=auth).json() == me  # stable per key
    assert client.post("/api/me", headers={"Authorization": "Bearer other"}).json()["id"] != me["id"]
    usage = client.get("/api/usage", headers=auth).json()
    assert usage["limits"] == {"session": {"usage": 0.1}, "weekly": {"usage": 0.2}}
    assert {"cost", "period", "models"} <= set(usage["activity"])
    assert client.post("/api/me").status_code == 401  # no key, no account


def test_key_behaviours(fake: FakeOllama, client: httpx.Client) -> None:
    fake.keys["key-a"] = KeyBehaviour(
        me={"id": "acct-a", "email": "a@x", "name": "A", "plan": "max"},
        usage={"limits": {"session": {"usage": 1.0}, "weekly": {"usage": 0.5}}},
        reply=Reply(status=429),
    )
    fake.keys["key-b"] = KeyBehaviour()
    fake.keys["revoked"] = KeyBehaviour(status=401)
    a, b = {"Authorization": "Bearer key-a"}, {"Authorization": "Bearer key-b"}
    fake.queue(Reply(content="for b"))
    for _ in range(2):  # key A's reply does not consume the queue, every time
        r = client.post("/api/chat", json={"model": "m", "messages": MSGS}, headers=a)
        assert (r.status_code, r.json()) == (429, {"error": SESSION_LIMIT})
    r = client.post("/api/chat", json={"model": "m", "messages": MSGS, "stream": False}, headers=b)
    assert r.json()["message"]["content"] == "for b"
    assert client.post("/api/me", headers=a).json()["plan"] == "max"
    assert client.get("/api/usage", headers=a).json()["limits"]["session"]["usage"] == 1.0
    revoked = {"Authorization": "Bearer revoked"}
    for method, path in (
        ("POST", "/api/chat"),
        ("GET", "/api/tags"),
        ("POST", "/api/me"),
        ("GET", "/api/usage"),
    ):
        r = client.request(method, path, headers=revoked, json={"model": "m", "messages": MSGS})
        assert (r.status_code, r.json()) == (401, {"error": "unauthorized"})
    r = client.post("/v1/chat/completions", headers=revoked, json={"model": "m", "messages": MSGS})
    assert r.status_code == 401 and r.json()["error"]["message"] == "unauthorized"


def test_require_auth(fake: FakeOllama, client: httpx.Client) -> None:
    fake.require_auth = True
    fake.keys["good"] = KeyBehaviour()
    for headers in ({}, {"Authorization": "Bearer bad"}):
        r = client.post("/api/chat", json={"model": "m", "messages": MSGS}, headers=headers)
        assert (r.status_code, r.json()) == (401, {"error": "unauthorized"})
    ok = client.post(
        "/api/chat", json={"model": "m", "messages": MSGS}, headers={"Authorization": "Bearer good"}
    )
    assert ok.status_code == 200
    assert client.get("/").status_code == 200  # liveness stays public


def test_recording(fake: FakeOllama, client: httpx.Client) -> None:
    client.post(
        "/api/chat?x=1", json={"model": "m", "messages": MSGS}, headers={"Authorization": "Bearer k1"}
    )
    client.get("/api/tags")
    chat, tags = fake.requests
    assert (chat.method, chat.path, chat.query, chat.bearer) == ("POST", "/api/chat", "x=1", "k1")
    assert chat.json == {"model": "m", "messages": MSGS}
    assert chat.headers["authorization"] == "Bearer k1" and chat.headers["content-type"] == "application/json"
    assert (tags.method, tags.json, tags.bearer) == ("GET", None, None)
    assert fake.chat_requests() == [chat]
    fake.record = False
    client.get("/api/tags")
    assert len(fake.requests) == 2 and fake.request_count == 3


# ---------------------------------------------------------------- connections, timing, disconnects


def test_keep_alive_reuse(fake: FakeOllama, client: httpx.Client) -> None:
    for _ in range(5):
        client.post("/api/chat", json={"model": "m", "messages": MSGS, "stream": False})
        client.post("/api/chat", json={"model": "m", "messages": MSGS})
    assert fake.connections == 1


def test_pipelined_requests_answered_in_order(fake: FakeOllama) -> None:
    fake.queue(Reply(content="slow", first_token_delay=0.05), Reply(content="fast"))
    first = post_raw("/api/chat", {"model": "m", "messages": MSGS, "stream": False}).replace(
        b"Connection: close\r\n", b""
    )
    second = post_raw("/api/chat", {"model": "m", "messages": MSGS, "stream": False})
    raw = raw_http(fake, first + second)
    assert raw.count(b"HTTP/1.1 200 OK") == 2
    assert raw.index(b'"content":"slow"') < raw.index(b'"content":"fast"')


def test_chunked_request_body(fake: FakeOllama) -> None:
    body = json.dumps({"model": "m", "messages": MSGS, "stream": False}).encode()
    payload = (
        b"POST /api/chat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, body[:10], len(body) - 10, body[10:])
    )
    raw = raw_http(fake, payload)
    assert raw.startswith(b"HTTP/1.1 200 OK")
    assert fake.requests[-1].json == {"model": "m", "messages": MSGS, "stream": False}


def test_delays(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(content="a b c d", first_token_delay=0.15, chunk_delay=0.03))
    t0 = time.monotonic()
    stamps = []
    with client.stream("POST", "/api/chat", json={"model": "m", "messages": MSGS}) as r:
        for line in r.iter_lines():
            if line:
                stamps.append(time.monotonic() - t0)
    assert stamps[0] >= 0.14
    assert stamps[-1] - stamps[0] >= 4 * 0.03 - 0.01  # 4 chunks + done after the first


def test_open_streams_and_disconnect_counting(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(content="never finishes", stall_after_first=True))
    with client.stream("POST", "/api/chat", json={"model": "m", "messages": MSGS}) as r:
        lines = r.iter_lines()  # keep a reference: a collected generator makes httpx close the response
        assert json.loads(next(lines))["message"]["content"] == "never"
        time.sleep(0.05)
        assert fake.open_streams == 1 and fake.client_disconnects == 0
    assert fake.wait_until(lambda: fake.client_disconnects == 1 and fake.open_streams == 0)

    fake.queue(Reply(content="one two three four five six", chunk_delay=0.05))
    body = {"model": "m", "messages": MSGS, "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        lines = r.iter_lines()
        next(lines)
        assert fake.open_streams == 1
    assert fake.wait_until(lambda: fake.client_disconnects == 2 and fake.open_streams == 0)

    fake.queue(Reply(content="late", first_token_delay=5))
    with pytest.raises(httpx.ReadTimeout):
        client.post("/api/chat", json={"model": "m", "messages": MSGS}, timeout=0.1)
    assert fake.wait_until(lambda: fake.client_disconnects == 3 and fake.open_streams == 0)


def test_reset(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(content="x"))
    fake.keys["k"] = KeyBehaviour()
    fake.strict_models = fake.require_auth = True
    fake.models = []
    fake.default_reply = Reply(content="changed")
    client.get("/")
    fake.reset()
    assert (fake.queued, fake.keys, fake.requests, fake.request_count) == (0, {}, [], 0)
    assert not fake.strict_models and not fake.require_auth and len(fake.models) == 3
    assert fake.default_reply.content == DEFAULT_CONTENT


def test_start_stop_and_port_reuse() -> None:
    fake = FakeOllama().start()
    port = fake.port
    assert httpx.get(fake.url + "/", verify=False).status_code == 200
    fake.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1, verify=False)
    with FakeOllama(port=port) as again:
        assert httpx.get(again.url + "/api/version", verify=False).status_code == 200


def test_cli() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with subprocess.Popen(
        [sys.executable, "-m", "tests.fake_ollama", "--port", str(port), "--tokens", "7"],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            assert f"127.0.0.1:{port}" in proc.stdout.readline()
            r = httpx.post(
                f"http://127.0.0.1:{port}/api/chat", json={"model": "m", "messages": MSGS}, verify=False
            )
            assert len(ndjson(r.text)) == 8
        finally:
            proc.terminate()
            proc.wait(5)
        assert proc.returncode == 0  # SIGTERM is a clean shutdown


def test_tool_calls_accept_wire_shape(fake: FakeOllama, client: httpx.Client) -> None:
    wire = {"id": "call_given", "function": {"name": "f", "arguments": '{"a": 1}'}}
    fake.queue(Reply(tool_calls=[wire]))
    obj = client.post("/api/chat", json={"model": "m", "messages": MSGS, "stream": False}).json()
    assert obj["message"]["tool_calls"] == [
        {"id": "call_given", "function": {"index": 0, "name": "f", "arguments": {"a": 1}}}
    ]


def test_non_stream_stall_never_answers(fake: FakeOllama, client: httpx.Client) -> None:
    fake.queue(Reply(content="x", stall_after_first=True))
    with pytest.raises(httpx.ReadTimeout):
        client.post("/api/chat", json={"model": "m", "messages": MSGS, "stream": False}, timeout=0.1)
    assert fake.wait_until(lambda: fake.client_disconnects == 1)


def test_handler_bug_is_a_500_and_server_survives(fake: FakeOllama, client: httpx.Client) -> None:
    fake.keys["k"] = KeyBehaviour(me={"not json": object()})
    assert client.post("/api/me", headers={"Authorization": "Bearer k"}).status_code == 500
    assert client.get("/api/tags").status_code == 200


def test_stop_with_stalled_stream_open() -> None:
    fake = FakeOllama().start()
    fake.queue(Reply(content="a b", stall_after_first=True))
    with (
        httpx.Client(base_url=fake.url, verify=False) as c,
        c.stream("POST", "/api/chat", json={"model": "m", "messages": MSGS}) as r,
    ):
        lines = r.iter_lines()
        next(lines)
        t0 = time.monotonic()
        fake.stop()
        assert time.monotonic() - t0 < 2
        with pytest.raises(httpx.RemoteProtocolError):
            list(lines)
