"""Line charts as inline SVG, drawn on the server: nothing fetched, no script, a title and a
description for screen readers, and the numbers in a table under each chart (folded: a
``<details>`` element, at most :data:`TABLE_ROWS` rows, evenly spaced)."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

__all__ = ["Series", "line_chart"]

COLOURS = ("#1f5fa8", "#c2541a", "#2e7d32", "#6a1b9a")
WIDTH, HEIGHT, PAD_L, PAD_R, PAD_T, PAD_B = 640, 260, 56, 16, 16, 36
TABLE_ROWS = 200


@dataclass
class Series:
    name: str
    points: list[tuple[float, float]]
    """(x, y) pairs, x ascending."""


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if raw <= m * step)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 or v == int(v) else f"{v:.3g}"


def line_chart(series: list[Series], title: str, x_label: str, y_label: str, chart_id: str) -> str:
    """An SVG line chart of ``series`` (empty series are left out; no points: a sentence)."""
    series = [s for s in series if s.points]
    if not series:
        return f"<p>{html.escape(title)}: nothing recorded.</p>"
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    w, h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B

    def px(x: float) -> float:
        return PAD_L + (x - x0) / (x1 - x0) * w

    def py(y: float) -> float:
        return PAD_T + (1 - (y - y0) / (y1 - y0)) * h

    desc = "; ".join(
        f"{s.name}: {len(s.points)} points, from {_fmt(s.points[0][1])} at {x_label} {_fmt(s.points[0][0])} "
        f"to {_fmt(s.points[-1][1])} at {_fmt(s.points[-1][0])}"
        for s in series
    )
    out = [
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{html.escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{html.escape(desc)}</desc>',
        f'<rect x="{PAD_L}" y="{PAD_T}" width="{w}" height="{h}" fill="none" stroke="#bbb"/>',
    ]
    for t in _ticks(y0, y1):
        out.append(f'<line x1="{PAD_L}" x2="{PAD_L + w}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{PAD_L - 6}" y="{py(t) + 4:.1f}" text-anchor="end" font-size="11">{_fmt(t)}</text>')
    for t in _ticks(x0, x1, 6):
        out.append(f'<text x="{px(t):.1f}" y="{PAD_T + h + 16}" text-anchor="middle" font-size="11">{_fmt(t)}</text>')
    out.append(f'<text x="{PAD_L + w / 2}" y="{HEIGHT - 4}" text-anchor="middle" font-size="12">'
               f"{html.escape(x_label)}</text>")  # fmt: skip
    out.append(f'<text x="12" y="{PAD_T + h / 2}" text-anchor="middle" font-size="12" '
               f'transform="rotate(-90 12 {PAD_T + h / 2})">{html.escape(y_label)}</text>')  # fmt: skip
    for i, s in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in s.points)
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        if len(s.points) == 1:
            x, y = s.points[0]
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        lx = PAD_L + 10 + 150 * i
        out.append(f'<rect x="{lx}" y="{PAD_T + 6}" width="12" height="4" fill="{colour}"/>')
        out.append(f'<text x="{lx + 16}" y="{PAD_T + 12}" font-size="11">{html.escape(s.name)}</text>')
    out.append("</svg>")
    out.append(_table(series, x_label))
    return "\n".join(out)


def _table(series: list[Series], x_label: str) -> str:
    """The charted numbers: one row per x, one column per series."""
    xs = sorted({x for s in series for x, _ in s.points})
    every = len(xs)
    if every > TABLE_ROWS:
        xs = [xs[round(i * (every - 1) / (TABLE_ROWS - 1))] for i in range(TABLE_ROWS)]
    values = [dict(s.points) for s in series]
    head = "".join(f'<th scope="col">{html.escape(s.name)}</th>' for s in series)
    rows = "".join(
        f"<tr><td>{_fmt(x)}</td>" + "".join(f"<td>{'' if x not in v else f'{v[x]:.4g}'}</td>" for v in values) + "</tr>"
        for x in xs
    )
    note = f" ({len(xs)} of {every}, evenly spaced)" if every > TABLE_ROWS else ""
    return (f"<details><summary>The numbers{note}</summary><table><thead><tr><th scope=\"col\">"
            f"{html.escape(x_label)}</th>{head}</tr></thead><tbody>{rows}</tbody></table></details>")  # fmt: skip
