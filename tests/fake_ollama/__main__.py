"""python -m tests.fake_ollama: run the fake in the foreground (benchmarks, trying the gateway by hand)."""

from __future__ import annotations

import argparse
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
    p.add_argument("--key", action="append", default=[], help="accepted Bearer key (enables auth); repeatable")
    p.add_argument("--record", action="store_true", help="keep every request in memory (off: benchmarks)")
    args = p.parse_args(argv)

    fake = FakeOllama(args.host, args.port, strict_models=args.strict_models, record=args.record)
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
        print(f"fake Ollama listening on {fake.url}", flush=True)

    fake.run_forever(ready)
    print("fake Ollama stopped", file=sys.stderr)


if __name__ == "__main__":
    main()
