"""Server-rendered SVG charts and bars: no script, no inline styles (the CSP forbids them).

Colours come from CSS classes, so light and dark themes restyle them.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 720, 200
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 48, 8, 12, 28


@dataclass(frozen=True)
class Point:
    label: str  # shown under some bars and in the tooltip ("14:00", "Nov 25")
    values: tuple[int, ...]  # stacked segments, bottom first


def _nice_max(value: int) -> int:
    """The top of the axis: four equal, round, whole-number steps that cover ``value``."""
    quarter = max(1.0, value / 4)
    magnitude = 10 ** (len(str(int(quarter))) - 1)
    for factor in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        step = factor * magnitude
        if step >= quarter and step == int(step):
            return int(step) * 4
    return int(quarter) * 4


def _short(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M".replace(".0M", "M")
    if value >= 1_000:
        return f"{value / 1_000:.1f}k".replace(".0k", "k")
    return str(int(value))


def bar_chart(points: list[Point], *, title: str, series: tuple[str, ...], label_every: int = 1) -> Markup:
    """A (stacked) bar chart; ``series`` names each segment for the legend and tooltips."""
    top = _nice_max(max((sum(p.values) for p in points), default=0))
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / max(1, len(points))
    bar_w = max(1.0, slot * 0.7)
    total = sum(sum(p.values) for p in points)
    summary = f"{title}: {total:,} in total over {len(points)} periods"
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(summary)}" '
        f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(summary)}</title>",
    ]
    for i in range(5):
        value = top * i / 4
        y = PAD_TOP + plot_h - plot_h * i / 4
        parts.append(f'<line class="gridline" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_short(value)}</text>')
    for index, point in enumerate(points):
        x = PAD_LEFT + index * slot + (slot - bar_w) / 2
        y = PAD_TOP + plot_h
        tip = f"{point.label}: " + ", ".join(f"{name} {value:,}" for name, value in zip(series, point.values, strict=False))
        parts.append(f"<g><title>{escape(tip)}</title>")
        for segment, value in enumerate(point.values):
            if value <= 0:
                continue
            h = plot_h * value / top
            y -= h
            parts.append(
                f'<rect class="bar s{segment}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" rx="1.5"/>'
            )
        parts.append("</g>")
        if index % label_every == 0:
            parts.append(
                f'<text class="axis" x="{x + bar_w / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{escape(point.label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def usage_bar(fraction: float | None, *, label: str) -> Markup:
    """A horizontal meter for a 0..1 share of a quota; warns from 75 %, alarms from 90 %."""
    if fraction is None:
        return Markup('<span class="muted">unknown</span>')
    fraction = min(1.0, max(0.0, fraction))
    level = "high" if fraction >= 0.9 else "mid" if fraction >= 0.75 else "low"
    percent = f"{fraction * 100:.0f}%"
    return Markup(
        f'<svg class="meter" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" '
        f'aria-label="{escape(label)}: {percent} used" xmlns="http://www.w3.org/2000/svg">'
        f'<rect class="meter-track" x="0" y="0" width="100" height="8" rx="4"/>'
        f'<rect class="meter-fill {level}" x="0" y="0" width="{fraction * 100:.2f}" height="8" rx="4"/>'
        f"</svg>"
    )
