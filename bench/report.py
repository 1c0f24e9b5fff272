"""The benchmark's one table: a row per route (the fake directly, the reference proxy, each mode
through each gateway), a column per figure, the targets in the first row and every gateway figure
that has a target marked met (✓) or not met (✗)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Results = dict[str, Any]
GATEWAY_KINDS = ("bypass", "emulator")  # the kinds the targets apply to (not direct, reference, LiteLLM)


@dataclass(frozen=True)
class Column:
    title: str
    cell: Callable[[Results, str], tuple[str, float | None]]  # (text, the value held to the target)
    targets: dict[str, tuple[str, float]] = field(default_factory=dict)  # kind -> (">=" or "<=", bound)
    target_text: str = ""


def _num(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _row(results: Results, phase: str, label: str) -> dict[str, Any]:
    return results.get(phase, {}).get(label, {})


def _with_added(phase: str, key: str, added: str, digits: int) -> Callable[[Results, str], tuple[str, float | None]]:
    def cell(results: Results, label: str) -> tuple[str, float | None]:
        row = _row(results, phase, label)
        if key not in row:
            return "", None
        if added not in row:
            return _num(row[key], digits), None
        return f"{_num(row[key], digits)} ({row[added]:+,.{digits}f})", row[added]

    return cell


def _plain(phase: str, key: str, digits: int) -> Callable[[Results, str], tuple[str, float | None]]:
    def cell(results: Results, label: str) -> tuple[str, float | None]:
        value = _row(results, phase, label).get(key)
        return ("" if value is None else _num(value, digits)), value

    return cell


def _errors(results: Results, label: str) -> tuple[str, float | None]:
    counts = [_row(results, phase, label).get("errors") for phase in ("throughput", "streaming")]
    counts = [c for c in counts if c is not None]
    return (str(sum(counts)) if counts else ""), None


def _served(results: Results, label: str) -> tuple[str, float | None]:
    row = _row(results, "open_streams", label)
    if not row:
        return "", None
    text = f"{row['streams_started']}/{row['streams']}"
    if row["reset_before_first_byte"]:
        text += f" ({row['reset_before_first_byte']} reset)"
    return text, row["streams_started"] / row["streams"]


def _added_mb(results: Results, label: str) -> tuple[str, float | None]:
    row = _row(results, "open_streams", label)
    if not row:
        return "", None
    return f"{row['idle_mb']:.0f} → +{row['added_mb']:.1f}", row["added_mb"]


def columns(results: Results) -> list[Column]:
    profile = results["profile"]
    both = {"bypass": 1.0, "emulator": 1.0}
    return [
        Column("p50 ms (added)", _with_added("latency", "p50_ms", "added_p50_ms", 3),
               {"bypass": ("<=", 1.0), "emulator": ("<=", 2.0)}, "bypass ≤ +1, emulator ≤ +2"),
        Column("p99 ms (added)", _with_added("latency", "p99_ms", "added_p99_ms", 3), {"bypass": ("<=", 3.0)},
               "bypass ≤ +3"),
        Column("req/s c32", _plain("throughput", "rps", 0)),
        Column("× direct c32", _plain("throughput", "ratio", 3), {k: (">=", 0.2) for k in both}, "≥ 0.2"),
        Column("× 1 worker c32", _plain("throughput", "ratio_to_one_worker", 2), {k: (">=", 1.85) for k in both},
               "≥ 1.85 (wrk)"),
        Column("CPU ms/req", _plain("throughput", "cpu_ms_per_request", 3)),
        Column(f"tok/s, {profile['streams']} streams", _plain("streaming", "tokens_per_s", 0)),
        Column("× direct streams", _plain("streaming", "ratio", 3),
               {"bypass": (">=", 0.8), "emulator": (">=", 0.5)}, "bypass ≥ 0.8, emulator ≥ 0.5"),
        Column("CPU µs/token", _plain("streaming", "cpu_us_per_token", 1), {"emulator": ("<=", 25.0)},
               "emulator ≤ 25"),
        Column("TTFB p50 ms (added)", _with_added("streaming", "ttfb_p50_ms", "added_ttfb_ms", 1)),
        Column("errors (b, c)", _errors),
        Column(f"{profile['open_streams']:,} streams at once: served", _served, {k: (">=", 1.0) for k in both}, "all"),
        Column("idle MB → with streams", _added_mb, {k: ("<=", 60.0) for k in both}, "≤ +60"),
        Column("KB/stream", _plain("open_streams", "kb_per_stream", 1)),
        Column("upstream closed after s", _plain("open_streams", "upstream_closed_after_s", 2),
               {k: ("<=", 10.0) for k in both}, "≤ 10"),
    ]


def _met(value: float, op: str, bound: float) -> bool:
    return value >= bound if op == ">=" else value <= bound


def table(results: Results) -> tuple[list[str], list[str]]:
    """(the markdown table, the lines of figures that missed their target)."""
    cols = columns(results)
    lines = ["| route | " + " | ".join(c.title for c in cols) + " |", "|" + " --- |" * (len(cols) + 1)]
    lines.append("| **target** | " + " | ".join(c.target_text for c in cols) + " |")
    missed: list[str] = []
    for label, route in results["routes"].items():
        cells = []
        for col in cols:
            text, value = col.cell(results, label)
            target = col.targets.get(route["kind"])
            if target is not None and value is not None:
                met = _met(value, *target)
                text += " ✓" if met else " ✗"
                if not met:
                    op = "≥" if target[0] == ">=" else "≤"
                    missed.append(f"{label}: {col.title} = {text[:-2]} (target {op} {target[1]:g})")
            cells.append(text)
        if any(cells):  # a route measured only in a phase this run left out has no row
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines, missed


def notes(results: Results) -> list[str]:
    out = []
    client = {row.get("client") for row in results.get("throughput", {}).values()}
    out.append(f"(b) load generator: {', '.join(sorted(c for c in client if c)) or '—'}; {results.get('wrk', '')}")
    for label, row in results.get("throughput", {}).items():
        if row.get("error_kinds"):
            kinds = ", ".join(f"{kind} {count}" for kind, count in row["error_kinds"].items())
            slow = " (timeout: an answer slower than wrk's 2 s)" if "timeout" in row["error_kinds"] else ""
            out.append(f"(b) {label}: errors: {kinds}{slow}")
    for label, row in results.get("streaming", {}).items():
        if row.get("first_errors"):
            out.append(f"(c) {label}: first errors: {'; '.join(e[:160] for e in row['first_errors'])}")
    for label, row in results.get("open_streams", {}).items():
        counters = ", ".join(f"{k} +{v}" for k, v in row["listen_counters"].items()) or "nstat not available"
        out.append(
            f"(d) {label}: {row['request_bytes']:,}-byte request, listen backlog {row['listen_backlog']}, "
            f"{counters} while connecting, {row['upstream_open_while_loaded']} upstream streams open, "
            f"{row['upstream_left_open']} left open after the clients vanished"
            + ("" if row["fresh_process"] else " (same process as the rows before: not a fresh start)")
        )
    return out


def report(results: Results) -> str:
    m = results["machine"]
    lines = [
        (
            f"machine: {m['nproc']} CPUs, {m['cpu']}, {m['ram_gb']} GB RAM, Python {m['python']}, "
            f"load {m['load_at_start']} at start"
        ),
        f"command: {results.get('command', 'python -m bench')}",
        "",
    ]
    rows, missed = table(results)
    lines += rows
    lines += ["", "✓ met, ✗ not met; (added) is over the direct route in the same run; targets apply to the gateway rows.",
              *notes(results)]
    if missed:
        lines += ["", f"not met ({len(missed)}):", *(f"  {line}" for line in missed)]
    return "\n".join(lines)
