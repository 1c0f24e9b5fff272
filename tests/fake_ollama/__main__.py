"""python -m tests.fake_ollama: run the fake in the foreground (benchmarks, trying the gateway by hand)."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from .replies import DEFAULT_CONTENT, KeyBehaviour, Reply
from .server import FakeOllama


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tests.fake_ollama", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=11434)
    p.add_argument("--tokens", type=int, default=0, help="answer with N word tokens, one chunk each")
    p.add_argument("--delay", type=float, default=0.0, help="seconds between stream chunks")
    p.add_argument("--first-token-delay", type=float, default=0.0, help="seconds before the first byte")
    p.add_argument("--thinking", default="", help="reasoning text streamed before the content")
    p.add_argument("--strict-models", action="store_true", help="404 for models not in /api/tags")
    p.add_argument(
        "--key", action="append", default=[], help="accepted Bearer key (enables auth); repeatable"
    )
    p.add_argument("--record", action="store_true", help="keep every request in memory (off: benchmarks)")
    p.add_argument(
        "--workers", type=int, default=1, help="processes sharing the port (SO_REUSEPORT), so the fake scales"
    )
    args = p.parse_args(argv)
    if args.workers > 1 and args.port == 0:
        p.error("--workers needs a fixed --port")

    # Fork before any loop or thread exists; each worker is an independent fake (own queue and keys).
    children: list[int] = []
    for _ in range(args.workers - 1):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                _serve(args, announce=False)
                code = 0
            finally:
                os._exit(code)  # never fall through into the parent's code
        children.append(pid)
    try:
        _serve(args, announce=True)
    finally:
        for pid in children:
            os.kill(pid, signal.SIGTERM)
        for pid in children:
            os.waitpid(pid, 0)
    print("fake Ollama stopped", file=sys.stderr)


def _serve(args: argparse.Namespace, announce: bool) -> None:
    fake = FakeOllama(
        args.host,
        args.port,
        strict_models=args.strict_models,
        record=args.record,
        reuse_port=args.workers > 1,
    )
    content = " ".join(f"tok{i}" for i in range(args.tokens)) if args.tokens else DEFAULT_CONTENT
    fake.default_reply = Reply(
        content=content,
        thinking=args.thinking,
        chunk_delay=args.delay,
        first_token_delay=args.first_token_delay,
    )
    if args.key:
        fake.require_auth = True
        for key in args.key:
            fake.keys[key] = KeyBehaviour()

    def ready() -> None:
        if announce:
            print(f"fake Ollama listening on {fake.url} ({args.workers} worker(s))", flush=True)

    fake.run_forever(ready)


if __name__ == "__main__":
    main()
