"""Charts and graphs drawn on the server as SVG: no JavaScript library to ship or load, the
pages work offline, and every label goes through ``escape`` like the rest of the page."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f",
           "#be185d"]


def _fmt(v: float) -> str:
    if v == 0 or (1e-3 <= abs(v) < 1e5):
        return f"{v:.4g}"
    return f"{v:.2e}"


def line_chart(series: Sequence[tuple[str, Sequence[tuple[float, float]]]], title: str = "",
               width: int = 560, height: int = 220, x_label: str = "step",
               x_format: Callable[[float], str] | None = None) -> str:
    """Lines of (x, y) points, one per series, with axes, ticks and a legend; ``x_format``
    writes the x ticks (e.g. timestamps as clock times), numbers by default."""
    pts = [(x, y) for _, s in series for x, y in s if math.isfinite(y)]
    if not pts:
        return f'<p class="muted">No values for {escape(title)}.</p>'
    left, right, top, bottom = 56, 12, 24, 30
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1
    w, h = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * w

    def sy(y: float) -> float:
        return top + h - (y - y0) / (y1 - y0) * h

    out = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" xmlns="http://www.w3.org/2000/svg">',
           f'<title>{escape(title)}</title>',
           f'<text x="{left}" y="14" class="ct">{escape(title)}</text>',
           f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" class="ax"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + h}" class="ax"/>']
    for i in range(5):
        yv = y0 + (y1 - y0) * i / 4
        out.append(f'<text x="{left - 4}" y="{sy(yv) + 4:.1f}" class="tk" '
                   f'text-anchor="end">{_fmt(yv)}</text>')
        xv = x0 + (x1 - x0) * i / 4
        out.append(f'<text x="{sx(xv):.1f}" y="{top + h + 14}" class="tk" '
                   f'text-anchor="middle">{escape((x_format or _fmt)(xv))}</text>')
    out.append(f'<text x="{left + w}" y="{height - 2}" class="tk" text-anchor="end">'
               f'{escape(x_label)}</text>')
    for i, (name, s) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        good = [(x, y) for x, y in s if math.isfinite(y)]
        if not good:
            continue
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in good)
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6" '
                   f'points="{path}"><title>{escape(name)}</title></polyline>')
        if len(good) == 1:
            x, y = good[0]
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>')
        out.append(f'<text x="{left + 8 + (i % 3) * 170}" y="{top + 12 + (i // 3) * 12}" '
                   f'class="lg" fill="{color}">{escape(name[:40])}</text>')
    out.append("</svg>")
    return "".join(out)


def graph(nodes: Sequence[dict[str, str]], edges: Sequence[tuple[str, str]],
          width: int = 900) -> str:
    """A left-to-right layered drawing of a DAG. ``nodes``: {id, label, sub, cls, href}
    (``cls`` colours the box: succeeded, failed, cached, running, ...)."""
    ids = [n["id"] for n in nodes]
    ups: dict[str, list[str]] = {i: [] for i in ids}
    for a, b in edges:
        if a in ups and b in ups:
            ups[b].append(a)
    layer: dict[str, int] = {}

    def depth(n: str, seen: frozenset[str] = frozenset()) -> int:
        if n in layer:
            return layer[n]
        if n in seen:  # a cycle: draw it anyway
            return 0
        d = 1 + max((depth(u, seen | {n}) for u in ups[n]), default=-1)
        layer[n] = d
        return d

    for i in ids:
        depth(i)
    cols: dict[int, list[str]] = {}
    for i in ids:
        cols.setdefault(layer[i], []).append(i)
    bw, bh, gx, gy = 170, 44, 50, 16
    ncol = max(cols) + 1 if cols else 1
    nrow = max((len(v) for v in cols.values()), default=1)
    width = max(width, ncol * (bw + gx) + 20)
    height = nrow * (bh + gy) + 20
    pos = {n: (10 + c * (bw + gx), 10 + r * (bh + gy))
           for c, ns in cols.items() for r, n in enumerate(ns)}
    by_id = {n["id"]: n for n in nodes}
    out = [f'<svg class="dag" role="img" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" xmlns="http://www.w3.org/2000/svg">',
           '<defs><marker id="arr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
           'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#888"/>'
           '</marker></defs>']
    for a, b in edges:
        if a in pos and b in pos:
            (ax, ay), (bx, by) = pos[a], pos[b]
            out.append(f'<line x1="{ax + bw}" y1="{ay + bh / 2}" x2="{bx}" y2="{by + bh / 2}" '
                       'class="edge" marker-end="url(#arr)"/>')
    for n in ids:
        x, y = pos[n]
        d = by_id[n]
        box = (f'<g class="node {escape(d.get("cls", ""))}"><rect x="{x}" y="{y}" width="{bw}" '
               f'height="{bh}" rx="6"/><text x="{x + 8}" y="{y + 18}" class="nl">'
               f'{escape(d.get("label", n)[:26])}</text><text x="{x + 8}" y="{y + 34}" '
               f'class="ns">{escape(d.get("sub", "")[:30])}</text>'
               f'<title>{escape(d.get("label", n))}</title></g>')
        href = d.get("href")
        out.append(f'<a href="{escape(href)}">{box}</a>' if href else box)
    out.append("</svg>")
    return "".join(out)
