"""Where a request's CPU goes, part by part: py-spy's collapsed stacks added up by what they do.

Each sample of the main thread (the event loop's) is given to the part of the first frame, from the
innermost outwards, that a rule below recognises: a logging call inside the metrics plugin counts
as the log line, aiohttp inside the dispatch as the upstream call. Shares of those samples, times
the main thread's CPU per request measured in the same run, give microseconds per request. Other
threads (aiosqlite's, which runs the SQLite queries) are one row, their CPU read from /proc: py-spy
counts a thread waiting for the GIL as busy, which made the SQLite thread look four times its cost.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

# (part, substrings of a frame): the first rule that matches a frame names the part.
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("the request log line", ("logging/", "proxy/log_output.py", "log_line (plugins/metrics.py")),
    ("metrics", ("plugins/metrics.py", "prometheus_client/")),
    ("rate limits", ("plugins/rate_limits/",)),
    ("token quotas", ("plugins/quotas/",)),
    ("authentication", ("plugins/api_key_auth.py", "hash_api_key", "cachetools/")),
    ("usage recording", ("plugins/usage_recorder.py",)),
    ("upstream choice (shared, users' keys)", ("plugins/ollama_keys/", "plugins/shared_upstream.py", "plugins/upstream_models.py")),
    ("the mode's own work", ("plugins/bypass.py", "plugins/emulator/", "plugins/key_mode.py")),
    ("body parse and serialise", ("parse_body (", "_too_deep (", "_body_for (")),
    ("the upstream call (aiohttp)", ("aiohttp/", "yarl/", "multidict/")),
    ("the upstream client's wrapper", ("proxy/upstream.py",)),
    ("the hook runner", ("proxy/runner.py",)),
    ("the pipeline (context, headers, errors)", ("proxy/",)),
    ("the reference's handler", ("bench/bare_proxy.py",)),
    ("database (queries, SQLite thread)", ("aiosqlite/", "tortoise/", "asyncpg/", "pypika")),
)
SANIC_SEND = ("http1_response_header", "BaseHTTPResponse.send", "send (send", "http1_response_chunked")
PARTS = [part for part, _ in RULES] + ["Sanic: sending the answer", "Sanic: receiving the request", "event loop and the rest"]
OTHER_THREADS = "other threads (aiosqlite's: the SQLite queries)"


def _part(frames: list[str]) -> str:
    for frame in reversed(frames):
        for part, needles in RULES:
            if any(needle in frame for needle in needles):
                return part
        if "sanic/" in frame or frame.startswith(("http1_", "handle_request", "connection_task")):
            return "Sanic: sending the answer" if any(s in f for f in frames for s in SANIC_SEND) else "Sanic: receiving the request"
    return "event loop and the rest"


def shares(stacks: Path) -> dict[str, float]:
    """Each part's share of the samples in a collapsed-stacks file (py-spy ``--format raw``)."""
    counts: Counter[str] = Counter()
    for line in stacks.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if stack and number.isdigit() and not stack.startswith("Thread._bootstrap"):  # main thread only
            counts[_part(stack.split(";"))] += int(number)
    total = sum(counts.values()) or 1
    return {part: counts[part] / total for part in PARTS}


def table(columns: dict[str, tuple[Path, float, float]], unit: str = "µs/req") -> str:
    """A markdown table: µs per request (or per ``unit``) for each part, one column per route
    (its stacks, its whole CPU and its main thread's CPU, in ms per request or per unit)."""
    figures = {
        name: {part: share * main_ms * 1000 for part, share in shares(path).items()} | {OTHER_THREADS: (total_ms - main_ms) * 1000}
        for name, (path, total_ms, main_ms) in columns.items()
    }  # fmt: skip
    names = list(columns)
    lines = ["| part | " + " | ".join(f"{name} {unit}" for name in names) + " |", "| --- |" + " --- |" * len(names)]
    for part in [*PARTS, OTHER_THREADS]:
        if any(figures[name][part] >= 0.5 for name in names):
            lines.append(f"| {part} | " + " | ".join(f"{figures[name][part]:.0f}" for name in names) + " |")
    lines.append(f"| **total (CPU, {unit})** | " + " | ".join(f"**{columns[name][1] * 1000:.0f}**" for name in names) + " |")
    return "\n".join(lines)
