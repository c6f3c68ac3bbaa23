"""Selection under budgets (research ``target-aware.md`` §3.4) and the Pareto plot.

Feasible: p99 (at the profile's batch) <= budget x (1 - margin), peak memory <= budget,
artifact size <= budget, accuracy >= floor, drop vs fp32 <= max drop. The margin depends on
how the latency was obtained: 0 measured on target, 10 % emulated on host, 25 % estimated.
Pick: the most accurate feasible candidate; candidates within 0.2 points are ties, broken by
lower p99, then lower peak memory, then fewer runtime dependencies, then fp32 over INT8.
None feasible: "no feasible candidate" with the nearest misses and what would make each fit.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

from loopml.targets.harness import EMULATED, ESTIMATED, ON_TARGET, Measurement
from loopml.targets.profile import TargetProfile

MARGINS = {ON_TARGET: 0.0, EMULATED: 0.10, ESTIMATED: 0.25}
TIE_POINTS = 0.2


@dataclass
class Selection:
    chosen: Measurement | None
    feasible: list[Measurement] = field(default_factory=list)
    misses: list[dict[str, Any]] = field(default_factory=list)  # nearest first
    pareto: list[Measurement] = field(default_factory=list)

    @property
    def message(self) -> str:
        if self.chosen is not None:
            m = self.chosen
            return (f"chose {m.candidate.name}: p99 {m.p99_ms:.3f} ms ({m.badge}), "
                    f"{m.metric or 'score'} {_fmt(m.accuracy)}, peak RSS {m.peak_rss_mb:.0f} MB, "
                    f"{m.size_mb:.2f} MB")
        lines = ["no feasible candidate; nearest misses:"]
        lines += [f"  {x['candidate']}: {'; '.join(x['gaps'])} -> {x['fix']}" for x in self.misses]
        return "\n".join(lines)


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def gaps(m: Measurement, profile: TargetProfile) -> list[tuple[str, float, str]]:
    """(what, relative excess, text) for every budget ``m`` misses; empty: feasible."""
    slo, out = profile.slo, []
    if slo.latency is not None:
        margin = MARGINS.get(m.badge, 0.25)
        allowed = slo.latency.budget_ms * (1 - margin)
        got = {"p50": m.p50_ms, "p90": m.p90_ms, "p99": m.p99_ms}[slo.latency.percentile]
        if not got <= allowed:
            out.append(("latency", got / allowed - 1,
                        f"{slo.latency.percentile} {got:.4g} ms vs {allowed:.4g} ms allowed "
                        f"(budget {slo.latency.budget_ms} ms, margin {margin:.0%}, {m.badge})"))
    if slo.peak_memory_mb is not None and not m.peak_rss_mb <= slo.peak_memory_mb:
        out.append(("memory", m.peak_rss_mb / slo.peak_memory_mb - 1,
                    f"peak RSS {m.peak_rss_mb:.0f} MB vs {slo.peak_memory_mb:.0f} MB"))
    if slo.artifact_max_mb is not None and m.size_mb > slo.artifact_max_mb:
        out.append(("size", m.size_mb / slo.artifact_max_mb - 1,
                    f"artifact {m.size_mb:.2f} MB vs {slo.artifact_max_mb} MB"))
    acc = slo.accuracy
    if acc.min is not None and (m.accuracy is None or m.accuracy < acc.min):
        out.append(("accuracy", (acc.min - (m.accuracy or 0)) * 10,
                    f"{m.metric} {_fmt(m.accuracy)} below the floor {acc.min}"))
    if acc.max_drop_vs_fp32 is not None and m.drop_points is not None and \
            m.drop_points > acc.max_drop_vs_fp32:
        out.append(("drop", (m.drop_points - acc.max_drop_vs_fp32) / 10,
                    f"drop {m.drop_points:.2f} pt vs fp32 > {acc.max_drop_vs_fp32} pt allowed"))
    return out


def _fix(kind: str, m: Measurement, profile: TargetProfile) -> str:
    slo = profile.slo
    if kind == "latency" and slo.latency is not None:
        need = m.p99_ms / (1 - MARGINS.get(m.badge, 0.25))
        where = "" if m.badge == ON_TARGET else ", or measure on the target (margin 0)"
        return (f"relax the latency budget to {need:.4g} ms, allow INT8 or another runtime, "
                f"or add a core{where}")
    if kind == "memory":
        return f"raise peak_memory_mb to {math.ceil(m.peak_rss_mb)}"
    if kind == "size":
        return f"raise artifact_max_mb to {math.ceil(m.size_mb * 100) / 100}"
    if kind == "drop":
        return f"allow max_drop_vs_fp32 {m.drop_points:.2f} or calibrate on more rows"
    return "lower the accuracy floor or train a better model"


def _key(m: Measurement) -> tuple[float, float, int, int]:
    return (m.p99_ms, m.peak_rss_mb, len(m.candidate.deps), m.candidate.precision != "fp32")


def pareto_front(ms: list[Measurement]) -> list[Measurement]:
    """Candidates no other candidate beats on accuracy (up), p99 and memory (down)."""
    def acc(m: Measurement) -> float:
        return m.accuracy if m.accuracy is not None else 0.0

    front = []
    for a in ms:
        dominated = any(
            acc(b) >= acc(a) and b.p99_ms <= a.p99_ms and b.peak_rss_mb <= a.peak_rss_mb
            and (acc(b) > acc(a) or b.p99_ms < a.p99_ms or b.peak_rss_mb < a.peak_rss_mb)
            for b in ms if b is not a)
        if not dominated:
            front.append(a)
    return sorted(front, key=lambda m: m.p99_ms)


def select(measurements: list[Measurement], profile: TargetProfile) -> Selection:
    """Apply the rule to what the harness measured (pruned or failed candidates ignored)."""
    valid = [m for m in measurements if m.ok and not math.isnan(m.p99_ms)]
    feasible = [m for m in valid if not gaps(m, profile)]
    pareto = pareto_front(valid)
    if feasible:
        best = max((m.accuracy if m.accuracy is not None else 0.0) for m in feasible)
        ties = [m for m in feasible
                if best - (m.accuracy if m.accuracy is not None else 0.0) <= TIE_POINTS / 100]
        return Selection(min(ties, key=_key), feasible, [], pareto)
    misses = []
    for m in valid:
        g = gaps(m, profile)
        worst = max(g, key=lambda t: t[1])
        misses.append({"candidate": m.candidate.name, "excess": sum(x[1] for x in g),
                       "gaps": [t[2] for t in g], "fix": _fix(worst[0], m, profile)})
    misses.sort(key=lambda x: x["excess"])
    return Selection(None, [], misses[:3], pareto)


# ---- the plot: inline SVG, no JavaScript ---------------------------------------------------
def pareto_svg(measurements: list[Measurement], profile: TargetProfile,
               chosen: Measurement | None, width: int = 640, height: int = 400) -> str:
    """Accuracy (y) against p99 ms (x, log scale), one dot per measured candidate (marker
    area ~ peak RSS), the Pareto front as a line, the latency budget as a dashed line."""
    ms = [m for m in measurements if m.ok and not math.isnan(m.p99_ms)]
    pad = 60
    if not ms:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"/>'
    xs = [math.log10(max(m.p99_ms, 1e-4)) for m in ms]
    budget = profile.slo.latency.budget_ms if profile.slo.latency else None
    if budget:
        xs.append(math.log10(budget))
    ys = [m.accuracy if m.accuracy is not None else 0.0 for m in ms]
    x0, x1 = min(xs) - 0.1, max(xs) + 0.1
    y0, y1 = min(ys) - 0.01, max(ys) + 0.01

    def px(v: float) -> float:
        return pad + (math.log10(max(v, 1e-4)) - x0) / (x1 - x0) * (width - 2 * pad)

    def py(v: float) -> float:
        return height - pad - (v - y0) / (y1 - y0) * (height - 2 * pad)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="11">',
             f'<title>Candidates for target {html.escape(profile.name)}</title>',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="black"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="black"/>',
             f'<text x="{width / 2}" y="{height - 20}" text-anchor="middle">p99 latency (ms, log)</text>',
             f'<text x="15" y="{height / 2}" transform="rotate(-90 15 {height / 2})" '
             f'text-anchor="middle">{html.escape(ms[0].metric or "score")}</text>']
    if budget:
        bx = px(budget)
        parts.append(f'<line x1="{bx:.1f}" y1="{pad}" x2="{bx:.1f}" y2="{height - pad}" '
                     'stroke="red" stroke-dasharray="5,4"/>'
                     f'<text x="{bx + 4:.1f}" y="{pad + 10}" fill="red">budget {budget} ms</text>')
    front = pareto_front(ms)
    if len(front) > 1:
        pts = " ".join(f"{px(m.p99_ms):.1f},{py(m.accuracy or 0):.1f}" for m in front)
        parts.append(f'<polyline points="{pts}" fill="none" stroke="#888"/>')
    for m in ms:
        r = 3 + min(12.0, math.sqrt(max(m.peak_rss_mb, 1)) / 3)
        colour = "#1a7f37" if m is chosen else "#0969da"
        cx, cy = px(m.p99_ms), py(m.accuracy or 0)
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="{colour}" '
                     f'fill-opacity="0.6"><title>{html.escape(m.candidate.name)}: p99 '
                     f'{m.p99_ms:.3f} ms ({html.escape(m.badge)}), RSS {m.peak_rss_mb:.0f} MB'
                     f'</title></circle><text x="{cx + r + 2:.1f}" y="{cy + 4:.1f}">'
                     f'{html.escape(m.candidate.name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


__all__ = ["MARGINS", "Selection", "gaps", "pareto_front", "pareto_svg", "select"]
