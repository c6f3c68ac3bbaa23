"""Distribution plots as inline SVG (the dataset pages and the self-contained HTML drift
reports): a histogram of shares per bin or category, reference and current overlaid. Every
label goes through ``escape``; nothing is fetched or scripted."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from loopml.ui.svg import PALETTE, _fmt

REF, CUR = PALETTE[0], PALETTE[1]


def distribution_chart(title: str, labels: Sequence[str], reference: Sequence[float],
                       current: Sequence[float] | None = None, width: int = 420,
                       height: int = 170) -> str:
    """Bars of ``reference`` shares per label, with ``current`` overlaid (both normalised to
    sum 1 here); labels are bin starts or category names."""
    n = len(labels)
    if n == 0:
        return f'<p class="muted">No values for {escape(title)}.</p>'

    def norm(v: Sequence[float]) -> list[float]:
        s = float(sum(v)) or 1.0
        return [float(x) / s for x in v]

    r = norm(reference)
    c = norm(current) if current is not None else None
    top_y = max(r + (c or [])) or 1.0
    left, right, top, bottom = 40, 8, 20, 30
    w, h = width - left - right, height - top - bottom
    bw = w / n
    out = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" xmlns="http://www.w3.org/2000/svg">',
           f'<title>{escape(title)}</title>',
           f'<text x="{left}" y="13" class="ct" font-size="12">{escape(title)}</text>',
           f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" stroke="#888"/>',
           f'<text x="{left - 4}" y="{top + 8}" font-size="9" text-anchor="end">'
           f'{_fmt(top_y)}</text>']
    for series, color, opacity in ((r, REF, "0.55"), (c, CUR, "0.45")):
        if series is None:
            continue
        for i, v in enumerate(series):
            bh = v / top_y * h
            out.append(f'<rect x="{left + i * bw:.1f}" y="{top + h - bh:.1f}" '
                       f'width="{max(bw - 1, 0.5):.1f}" height="{bh:.1f}" fill="{color}" '
                       f'fill-opacity="{opacity}"><title>{escape(labels[i])}: '
                       f'{v:.3f}</title></rect>')
    step = max(1, n // 6)
    for i in range(0, n, step):
        out.append(f'<text x="{left + i * bw + bw / 2:.1f}" y="{top + h + 12}" font-size="9" '
                   f'text-anchor="middle">{escape(labels[i][:10])}</text>')
    if c is not None:
        out.append(f'<text x="{left + w - 120}" y="13" font-size="10" fill="{REF}">reference'
                   f'</text><text x="{left + w - 50}" y="13" font-size="10" fill="{CUR}">'
                   'current</text>')
    out.append("</svg>")
    return "".join(out)


def profile_chart(name: str, ref: Any, cur: Any = None) -> str:
    """The chart of one column from ``loopml.data.profile`` column profiles (numeric: both
    histograms rebinned to a shared range; categorical: the reference's top categories plus
    the current's)."""
    from loopml.data.profile import NumericProfile

    if isinstance(ref, NumericProfile):
        if ref.count == 0:
            return f'<p class="muted">{escape(name)}: no values.</p>'
        lo, hi = ref.lo, ref.hi
        if isinstance(cur, NumericProfile) and cur.count:
            lo, hi = min(lo, cur.lo), max(hi, cur.hi)
        bins = 30
        edges = [lo + (hi - lo) * i / bins for i in range(bins)]
        rc = list(ref.rebinned(lo, hi, bins))
        cc = list(cur.rebinned(lo, hi, bins)) if isinstance(cur, NumericProfile) else None
        return distribution_chart(name, [_fmt(e) for e in edges], rc, cc)
    cats = list(getattr(ref, "counts", {}) or {})
    if cur is not None:
        cats += [k for k in (getattr(cur, "counts", {}) or {}) if k not in cats]
    cats = cats[:20]
    rc = [float(ref.counts.get(k, 0)) for k in cats]
    cc = [float(cur.counts.get(k, 0)) for k in cats] if cur is not None else None
    return distribution_chart(name, cats, rc, cc)


__all__ = [
    "distribution_chart", "profile_chart",
]
