"""Small SVG charts for answers (pure: data in, SVG text out; no plotting library).

- :func:`before_after_svg`: one node's values over time, the "before" period on the left and the
  "after" period on the right, each with a dashed line at its mean; ``mark`` is a highlighted
  point (the one message an explanation is about).
- :func:`ranking_svg`: each node's share of the explanation as a bar with its interval as a
  whisker, names on the left, blamed nodes in red.

>>> from nodered_causal.report.answer import Series
>>> svg = before_after_svg(Series.of("n", "score", "average", [(0, 1), (1, 2)], [(0, 5), (1, 6)]))
>>> svg.count("<polyline")
2
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from nodered_causal.report.answer import Ranked, Series

__all__ = ["before_after_svg", "fmt_number", "ranking_svg"]

_BEFORE = "#4a6fa5"
_AFTER = "#c0392b"


def fmt_number(value: float) -> str:
    """Short, readable numbers: ``1234.5`` → ``1.23k``, ``0.000123`` → ``0.000123``.

    >>> fmt_number(1234.5), fmt_number(0.5), fmt_number(12.0), fmt_number(2e6)
    ('1.23k', '0.5', '12', '2M')
    """
    if not math.isfinite(value):
        return "–"
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def _scale(lo: float, hi: float, a: float, b: float) -> tuple[float, float]:
    """Linear map [lo, hi] → [a, b] as (slope, offset); a flat range maps to the middle."""
    if hi - lo <= 0:
        return 0.0, (a + b) / 2
    k = (b - a) / (hi - lo)
    return k, a - k * lo


def _polyline(points: Sequence[tuple[float, float]], colour: str) -> str:
    if not points:
        return ""
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="1.5"/>'


def before_after_svg(series: Series, *, width: int = 560, height: int = 170) -> str:
    """The before/after chart of one node (see the module docstring)."""
    left, right, top, bottom = 56, 10, 22, 26
    ys = [y for _, y in (*series.before, *series.after)]
    if series.mark is not None:
        ys.append(series.mark[1])
    lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.08 or 1.0
    lo, hi = lo - pad, hi + pad
    ky, oy = _scale(lo, hi, height - bottom, top)
    split = left + (width - left - right) * (0.5 if series.after else 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" '
        'font-size="11">',
        f"<title>{html.escape(series.name)}: {html.escape(series.what)}</title>",
        f'<text x="{left}" y="13" font-weight="bold">{html.escape(series.name)}'
        f'<tspan font-weight="normal" fill="#555"> — {html.escape(series.what)}</tspan></text>',
        f'<rect x="{left}" y="{top}" width="{width - left - right}" '
        f'height="{height - top - bottom}" fill="#fafafa" stroke="#ddd"/>',
    ]
    for value in (lo + pad, hi - pad):
        y = ky * value + oy
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#555">'
            f"{fmt_number(value)}</text>"
        )
    periods = [(series.before, series.before_label, _BEFORE, float(left), split)]
    if series.after:
        periods.append((series.after, series.after_label, _AFTER, split, float(width - right)))
        parts.append(
            f'<line x1="{split:.1f}" y1="{top}" x2="{split:.1f}" y2="{height - bottom}" '
            'stroke="#999" stroke-dasharray="3 3"/>'
        )
    for points, label, colour, x0, x1 in periods:
        xs = [x for x, _ in points]
        kx, ox = _scale(min(xs, default=0.0), max(xs, default=1.0), x0 + 4, x1 - 4)
        parts.append(_polyline([(kx * x + ox, ky * y + oy) for x, y in points], colour))
        mean = Series.mean(points)
        if mean is not None:
            y = ky * mean + oy
            parts.append(
                f'<line x1="{x0 + 4:.1f}" y1="{y:.1f}" x2="{x1 - 4:.1f}" y2="{y:.1f}" '
                f'stroke="{colour}" stroke-dasharray="5 3" opacity="0.8"/>'
            )
        summary = f"{label}: mean {fmt_number(mean)}" if mean is not None else f"{label}: no data"
        parts.append(
            f'<text x="{(x0 + x1) / 2:.1f}" y="{height - 8}" text-anchor="middle" '
            f'fill="{colour}">{html.escape(summary)}</text>'
        )
        if series.mark is not None and points is series.before:
            mx, my = kx * series.mark[0] + ox, ky * series.mark[1] + oy
            parts.append(
                f'<circle cx="{mx:.1f}" cy="{my:.1f}" r="5" fill="{_AFTER}" stroke="#fff">'
                f"<title>this message: {fmt_number(series.mark[1])}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def ranking_svg(ranking: Sequence[Ranked], *, width: int = 560, row: int = 22) -> str:
    """Bars of each node's share (interval as a whisker); nodes without a share use their score."""
    label_w, right, top = 200, 60, 6
    height = top + row * max(1, len(ranking)) + 18
    values = []
    for r in ranking:
        use_share = r.share is not None
        v = r.share if use_share else r.score
        lo = r.share_low if use_share else r.low
        hi = r.share_high if use_share else r.high
        values.append((r, v or 0.0, lo, hi, use_share))
    ends = [0.0, *(x for _, v, lo, hi, _ in values for x in (v, lo, hi) if x is not None)]
    kx, ox = _scale(min(ends), max(ends), label_w + 6, width - right)
    zero = kx * 0.0 + ox
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ranking" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="Helvetica, Arial, sans-serif" font-size="12">',
        f'<line x1="{zero:.1f}" y1="{top}" x2="{zero:.1f}" y2="{height - 18}" stroke="#999"/>',
    ]
    for i, (r, v, lo, hi, use_share) in enumerate(values):
        y = top + i * row
        colour = "#c0392b" if r.blamed else "#9aa5b1"
        x1 = kx * v + ox
        name = r.name if len(r.name) <= 30 else r.name[:29] + "…"
        text = f"{v * 100:.0f} %" if use_share else fmt_number(v)
        tip = f"{r.name} (id {r.node}): {text}"
        if lo is not None and hi is not None:
            tip += (
                f", interval {lo * 100:.0f} % to {hi * 100:.0f} %"
                if use_share
                else f", interval {fmt_number(lo)} to {fmt_number(hi)}"
            )
        weight = ' font-weight="bold"' if r.blamed else ""
        parts.append(
            f'<g class="bar" data-id="{html.escape(r.node)}"><title>{html.escape(tip)}</title>'
            f'<text x="{label_w}" y="{y + 15}" text-anchor="end"{weight}>'
            f"{html.escape(name)}</text>"
            f'<rect x="{min(zero, x1):.1f}" y="{y + 5}" width="{abs(x1 - zero):.1f}" '
            f'height="{row - 9}" fill="{colour}"/>'
        )
        if lo is not None and hi is not None:
            a, b = kx * lo + ox, kx * hi + ox
            mid = y + row / 2
            parts.append(
                f'<line x1="{a:.1f}" y1="{mid:.1f}" x2="{b:.1f}" y2="{mid:.1f}" stroke="#222"/>'
                f'<line x1="{a:.1f}" y1="{mid - 4:.1f}" x2="{a:.1f}" y2="{mid + 4:.1f}" '
                'stroke="#222"/>'
                f'<line x1="{b:.1f}" y1="{mid - 4:.1f}" x2="{b:.1f}" y2="{mid + 4:.1f}" '
                'stroke="#222"/>'
            )
        parts.append(
            f'<text x="{width - right + 6}" y="{y + 15}" fill="#333">{html.escape(text)}</text></g>'
        )
    parts.append(
        f'<text x="{label_w + 6}" y="{height - 4}" fill="#666" font-size="10">bar: share of the '
        "explanation; whisker: its interval</text></svg>"
    )
    return "".join(parts)
