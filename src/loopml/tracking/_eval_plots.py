"""Standalone SVG plots for ``loopml.evaluate``: curves on a [0, 1] x [0, 1] square and a
confusion matrix. Drawn as text like ui/svg.py (no matplotlib), but with inline styles so a
downloaded file renders the same outside the dashboard. Every label goes through ``escape``."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from loopml.ui.svg import PALETTE

_FONT = 'font-family="sans-serif" font-size="11"'


def _head(width: int, height: int, title: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}">',
            f'<rect width="{width}" height="{height}" fill="#fff"/>',
            f'<title>{escape(title)}</title>',
            f'<text x="{width / 2}" y="16" text-anchor="middle" {_FONT} font-weight="bold">'
            f'{escape(title)}</text>']


def curves_svg(series: Sequence[tuple[str, Sequence[float], Sequence[float]]], title: str,
               x_label: str, y_label: str, diagonal: bool = False, size: int = 380) -> str:
    """Lines of (xs, ys) in [0, 1] (ROC, precision-recall, calibration), one per
    ``(legend, xs, ys)``; ``diagonal`` adds the dashed y = x reference."""
    left, top, pad = 48, 28, 36
    w = h = size - left - 12
    height = top + h + pad

    def sx(x: float) -> float:
        return left + min(max(x, 0.0), 1.0) * w

    def sy(y: float) -> float:
        return top + h - min(max(y, 0.0), 1.0) * h

    out = _head(size, height, title)
    out.append(f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#888"/>')
    for i in range(6):
        v = i / 5
        out.append(f'<text x="{left - 4}" y="{sy(v) + 4:.1f}" text-anchor="end" {_FONT}>{v:.1f}</text>')
        out.append(f'<text x="{sx(v):.1f}" y="{top + h + 14}" text-anchor="middle" {_FONT}>{v:.1f}</text>')
    out.append(f'<text x="{left + w / 2}" y="{height - 4}" text-anchor="middle" {_FONT}>'
               f'{escape(x_label)}</text>')
    out.append(f'<text x="12" y="{top + h / 2}" text-anchor="middle" {_FONT} '
               f'transform="rotate(-90 12 {top + h / 2})">{escape(y_label)}</text>')
    if diagonal:
        out.append(f'<line x1="{sx(0)}" y1="{sy(0)}" x2="{sx(1)}" y2="{sy(1)}" stroke="#aaa" '
                   'stroke-dasharray="4 3"/>')
    for i, (name, xs, ys) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys, strict=True))
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.8" points="{pts}">'
                   f'<title>{escape(name)}</title></polyline>')
        out.append(f'<text x="{left + w - 6}" y="{top + h - 8 - 14 * i}" text-anchor="end" '
                   f'{_FONT} fill="{color}">{escape(name[:48])}</text>')
    out.append("</svg>")
    return "".join(out)


def confusion_svg(matrix: Sequence[Sequence[int]], labels: Sequence[str],
                  title: str = "Confusion matrix") -> str:
    """An n x n grid of counts, rows = true label, columns = predicted; darker = more."""
    n = len(labels)
    cell = max(28, min(70, 420 // max(n, 1)))
    left, top = 90, 40
    width, height = left + n * cell + 12, top + n * cell + 40
    peak = max((v for row in matrix for v in row), default=0) or 1
    out = _head(width, height, title)
    for r, row in enumerate(matrix):
        for c, v in enumerate(row):
            shade = v / peak
            fill = f"rgb({int(255 - 218 * shade)},{int(255 - 156 * shade)},{int(255 - 20 * shade)})"
            ink = "#fff" if shade > 0.55 else "#111"
            x, y = left + c * cell, top + r * cell
            out.append(f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}" '
                       f'stroke="#fff"/><text x="{x + cell / 2}" y="{y + cell / 2 + 4}" '
                       f'text-anchor="middle" {_FONT} fill="{ink}">{int(v)}</text>')
    for i, lab in enumerate(labels):
        out.append(f'<text x="{left - 6}" y="{top + i * cell + cell / 2 + 4}" text-anchor="end" '
                   f'{_FONT}>{escape(str(lab)[:12])}</text>')
        out.append(f'<text x="{left + i * cell + cell / 2}" y="{top + n * cell + 14}" '
                   f'text-anchor="middle" {_FONT}>{escape(str(lab)[:10])}</text>')
    out.append(f'<text x="{left + n * cell / 2}" y="{height - 6}" text-anchor="middle" {_FONT}>'
               'Predicted label</text>')
    out.append(f'<text x="10" y="{top - 10}" {_FONT}>True label</text>')
    out.append("</svg>")
    return "".join(out)
