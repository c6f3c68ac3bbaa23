"""A parallel-coordinates plot drawn on the server as SVG (Inselberg 1985): one vertical axis
per param or metric, one polyline per run. Numeric columns are scaled min..max on their axis;
other values (e.g. ``model=rf``) are spread evenly in sorted order."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from loopml.ui.svg import PALETTE, _fmt

__all__ = ["parallel_coordinates"]


def _number(v: object) -> float | None:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _scale(values: Sequence[object]) -> tuple[list[float | None], list[str]]:
    """Each value as a position in [0, 1] (None when missing) and the axis' tick labels."""
    present = [v for v in values if v is not None and v != ""]
    nums = [_number(v) for v in present]
    if present and all(n is not None for n in nums):
        lo, hi = min(n for n in nums if n is not None), max(n for n in nums if n is not None)
        span = hi - lo or 1.0
        pos = [None if (n := _number(v)) is None else (n - lo) / span for v in values]
        return pos, [_fmt(lo), _fmt(hi)] if hi != lo else [_fmt(lo)]
    cats = sorted({str(v) for v in present})
    step = 1 / (len(cats) - 1) if len(cats) > 1 else 0.0
    where = {c: i * step for i, c in enumerate(cats)}
    return [None if v is None or v == "" else where[str(v)] for v in values], cats


def parallel_coordinates(axes: Sequence[str], rows: Sequence[tuple[str, Sequence[object]]],
                         width: int = 900, height: int = 300) -> str:
    """``axes``: column names; ``rows``: (run label, one value per axis). Returns SVG text."""
    if len(axes) < 2 or not rows:
        return '<p class="muted">Parallel coordinates need two columns and one run.</p>'
    left, right, top, bottom = 40, 40, 34, 26
    gap = (width - left - right) / (len(axes) - 1)
    h = height - top - bottom
    out = [f'<svg class="chart" id="parallel" role="img" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
           '<title>Parallel coordinates</title>']
    columns = [_scale([r[1][j] for r in rows]) for j in range(len(axes))]
    for j, name in enumerate(axes):
        x = left + j * gap
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + h}" class="ax"/>')
        out.append(f'<text x="{x:.1f}" y="{top - 18}" class="tk" text-anchor="middle">'
                   f'{escape(name[:28])}</text>')
        ticks = columns[j][1]
        for k, label in enumerate(ticks[:12]):
            frac = k / (len(ticks) - 1) if len(ticks) > 1 else 0.0
            y = top + h - frac * h
            out.append(f'<text x="{x + 3:.1f}" y="{y + 3:.1f}" class="tk">{escape(label[:16])}</text>')
    for i, (label, _values) in enumerate(rows):
        pts = [(left + j * gap, top + h - p * h) for j, (pos, _t) in enumerate(columns)
               if (p := pos[i]) is not None]
        if len(pts) < 2:
            continue
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        out.append(f'<polyline fill="none" stroke="{PALETTE[i % len(PALETTE)]}" stroke-width="1.6" '
                   f'stroke-opacity="0.8" points="{line}"><title>{escape(label)}</title></polyline>')
    out.append("</svg>")
    return "".join(out)
