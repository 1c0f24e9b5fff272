"""The request bodies the benchmark sends: short chat and Responses requests, and a real Codex request.

The fake upstream picks its reply by the last message's text (``tokens=500 delay=0.5``), so each
builder takes that text and puts it where the upstream will find it after any translation.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import orjson

from bench.processes import MODEL, ROOT

EMULATED_MODEL = "gpt-5.4"
# Codex CLI's first turn as captured: the developer prompt carried as input messages (Codex sends
# its instructions that way), ten tools, `store: false`, `include: ["reasoning.encrypted_content"]`.
CODEX_CAPTURE = ROOT / "tests" / "data" / "codex" / "requests" / "codex_fc_turn1_catalog_gpt54.json"


def chat(text: str, stream: bool) -> bytes:
    return orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": text}], "stream": stream})


def responses(text: str, stream: bool) -> bytes:
    return orjson.dumps({"model": EMULATED_MODEL, "input": text, "stream": stream, "store": False})


@functools.cache
def _codex_capture(path: Path = CODEX_CAPTURE) -> dict[str, Any]:
    return orjson.loads(path.read_bytes())["body"]


def codex(text: str, stream: bool, store: bool) -> bytes:
    """The captured Codex request with ``text`` as the user's last words and ``store`` as given."""
    body = copy.deepcopy(_codex_capture())
    last = body["input"][-1]
    assert last.get("role") == "user", "the capture's last input item is the user's message"
    last["content"] = [{"type": "input_text", "text": text}]
    body["stream"] = stream
    body["store"] = store
    return orjson.dumps(body)


def codex_store_false(text: str, stream: bool) -> bytes:
    return codex(text, stream, store=False)


def codex_store_true(text: str, stream: bool) -> bytes:
    return codex(text, stream, store=True)
