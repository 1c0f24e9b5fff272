"""python -m bench.fake_upstream: the tests' fake Ollama, as the benchmark runs it.

Two additions on top of ``python -m tests.fake_ollama``, both outside the fake's own code:

* ``GET /_fake/stats``: the fake's live counters (open streams, connections, disconnects), so the
  benchmark can see from another process whether the gateway closed its upstream streams;
* the reply is chosen by the last message: ``tokens=500 delay=0.5`` answers 500 tokens with half
  a second between chunks; anything else gets the short default reply. One fake thus serves
  every phase through one gateway, whatever mode or API the request came through.
"""

from __future__ import annotations

import argparse
import functools
from typing import Any

import orjson

from tests.fake_ollama import FakeOllama, Reply
from tests.fake_ollama.formats import Answer


def _last_text(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return ""
    content = messages[-1].get("content")
    if isinstance(content, list):  # OpenAI content parts
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


@functools.lru_cache(maxsize=64)
def reply_for(spec: str) -> Reply | None:
    """``tokens=N [delay=S]`` -> a Reply (cached: the fake caches its split per Reply)."""
    fields = dict(part.split("=", 1) for part in spec.split() if "=" in part)
    if "tokens" not in fields:
        return None
    tokens = int(fields["tokens"])
    return Reply(content=" ".join(f"tok{i}" for i in range(tokens)), chunk_delay=float(fields.get("delay", 0)))


def install(fake: FakeOllama) -> None:
    def stats(conn: Any, req: Any, data: Any, bearer: Any, kb: Any) -> Answer:
        body = {
            "open_streams": fake.open_streams,
            "open_connections": fake.open_connections,
            "client_disconnects": fake.client_disconnects,
            "requests": fake.request_count,
            "connections": fake.connections,
        }
        return Answer(200, "application/json", orjson.dumps(body))

    def scripted(handler: Any) -> Any:
        def chat(conn: Any, req: Any, data: Any, bearer: Any, kb: Any) -> Any:
            text = _last_text(data)
            if text.startswith("tokens="):
                reply = reply_for(text)
                if reply is not None:
                    fake.queue(reply)
            return handler(conn, req, data, bearer, kb)

        return chat

    routes = fake._routes  # noqa: SLF001 - the benchmark's own routes, kept out of the fake's code
    routes["/_fake/stats"] = {"GET": stats}
    for path in ("/api/chat", "/v1/chat/completions"):
        routes[path] = {"POST": scripted(routes[path]["POST"])}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fake_upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    fake = FakeOllama(args.host, args.port, record=False)
    install(fake)
    fake.run_forever(lambda: print(f"fake Ollama listening on {fake.url}", flush=True))


if __name__ == "__main__":
    main()
