"""Self-contained HTML reports: drift (reference vs current) and data quality, one file with
inline CSS and inline SVG plots; no script, no external resource (it opens offline, in a CI
artifact viewer, or attached to a ticket).

    from loopml.data.report import drift_report_html
    html = drift_report_html("train.parquet", "today.parquet")

Per feature: the reference and current distributions overlaid, the test, its statistic, the
threshold and the verdict. Data quality: missing values, categories the reference never
had, numeric values outside the reference's range.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html import escape
from typing import Any

from loopml.data.drift import DriftReport, detect_drift
from loopml.data.profile import CategoricalProfile, NumericProfile, Profile
from loopml.data.profile import profile as make_profile

__all__ = ["QualityRow", "data_report_html", "drift_report_html", "quality"]

_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#111}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}table{border-collapse:collapse}
td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}
.bad{color:#b91c1c;font-weight:600}.ok{color:#15803d}.muted{color:#666}
.feat{display:inline-block;vertical-align:top;margin:8px 16px 8px 0}"""


@dataclass(frozen=True)
class QualityRow:
    """Data-quality facts about one column of the current data."""

    column: str
    missing_rate: float
    reference_missing_rate: float | None
    new_categories: list[str]  # among the current's most frequent values
    new_category_share: float  # share of current values the reference never saw
    below_range: bool  # current min < reference min
    above_range: bool  # current max > reference max


def _as_profile(data: Any) -> Profile:
    return data if isinstance(data, Profile) else make_profile(data)


def quality(current: Profile, reference: Profile | None = None) -> list[QualityRow]:
    """Missing values, new categories and range violations, column by column."""
    out = []
    for name, cp in current.columns.items():
        rp = reference.columns.get(name) if reference is not None else None
        new: list[str] = []
        share = 0.0
        below = above = False
        if isinstance(cp, CategoricalProfile) and isinstance(rp, CategoricalProfile):
            new = [k for k in cp.counts if k not in rp.counts and rp.distinct <= len(rp.counts)]
            share = cp.unseen_share(rp)
        if isinstance(cp, NumericProfile) and isinstance(rp, NumericProfile) and cp.count \
                and rp.count:
            below, above = cp.min < rp.min, cp.max > rp.max
        out.append(QualityRow(name, cp.missing_rate, rp.missing_rate if rp else None, new,
                              share, below, above))
    return out


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.4g}"


def _page(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
            + "".join(body) + "</body></html>")


def _quality_section(rows: list[QualityRow]) -> list[str]:
    out = ["<h2>Data quality</h2><table><thead><tr><th>column</th><th>missing</th>"
           "<th>reference missing</th><th>new categories</th><th>range</th></tr></thead><tbody>"]
    for q in rows:
        jump = q.reference_missing_rate is not None and q.missing_rate > \
            q.reference_missing_rate + 0.1
        rng = ("below reference min " if q.below_range else "") + (
            "above reference max" if q.above_range else "")
        cats = ", ".join(q.new_categories[:10]) + (
            f" ({q.new_category_share:.1%} of values)" if q.new_category_share else "")
        out.append(f"<tr><td>{escape(q.column)}</td><td class=\"{'bad' if jump else ''}\">"
                   f"{q.missing_rate:.2%}</td><td>{_fmt(q.reference_missing_rate)}</td>"
                   f"<td class=\"{'bad' if cats else ''}\">{escape(cats)}</td>"
                   f"<td class=\"{'bad' if rng else ''}\">{escape(rng.strip()) or 'within'}"
                   "</td></tr>")
    out.append("</tbody></table>")
    return out


def drift_report_html(reference: Any, current: Any, *, report: DriftReport | None = None,
                      title: str = "Data drift report", **drift_kw: Any) -> str:
    """The HTML page for ``current`` against ``reference`` (tables, paths or Profiles).
    ``report``: an already computed DriftReport of the same two (else computed here with
    ``drift_kw``, the arguments of ``detect_drift``)."""
    from loopml.ui.svg_dist import profile_chart

    ref, cur = _as_profile(reference), _as_profile(current)
    rep = report or detect_drift(ref, cur, **drift_kw)
    verdict = "DRIFT" if rep.dataset_drift else "no drift"
    body = [f"<h1>{escape(title)}</h1>",
            f"<p class=\"muted\">{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC} &middot; "
            f"reference {ref.rows} rows &middot; current {cur.rows} rows</p>",
            f"<p>Dataset: <span class=\"{'bad' if rep.dataset_drift else 'ok'}\">{verdict}"
            f"</span> &mdash; {len(rep.drifted_columns)} of {len(rep.tested)} column(s) drifted "
            f"({rep.share_drifted:.0%}; the dataset counts as drifted at "
            f"{rep.drift_share:.0%}).</p>",
            "<h2>Summary</h2><table><thead><tr><th>column</th><th>kind</th><th>test</th>"
            "<th>statistic</th><th>p-value</th><th>threshold</th><th>verdict</th></tr>"
            "</thead><tbody>"]
    for c in rep.columns:
        v = ("<span class=\"bad\">drift</span>" if c.drifted else
             "<span class=\"ok\">ok</span>" if c.status == "ok" else
             f"<span class=\"muted\">skipped: {escape(c.reason)}</span>")
        body.append(f"<tr><td>{escape(c.column)}</td><td>{escape(c.kind)}</td>"
                    f"<td>{escape(c.test or '')}</td><td>{_fmt(c.statistic)}</td>"
                    f"<td>{_fmt(c.p_value)}</td><td>{_fmt(c.threshold)}</td><td>{v}</td></tr>")
    body.append("</tbody></table><h2>Features</h2>")
    for c in rep.columns:
        rp, cp = ref.columns.get(c.column), cur.columns.get(c.column)
        if rp is None:
            continue
        chart = profile_chart(c.column, rp, cp if type(cp) is type(rp) else None)
        body.append(f"<div class=\"feat\">{chart}<div>{escape(c.test or '')} "
                    f"{_fmt(c.statistic)} (threshold {_fmt(c.threshold)}): "
                    f"{'<b class=bad>drift</b>' if c.drifted else 'ok'}</div></div>")
    body += _quality_section(quality(cur, ref))
    return _page(title, body)


def data_report_html(current: Any, reference: Any = None, *,
                     title: str = "Data report") -> str:
    """A profile page of ``current`` (distributions, missing values), with drift and
    quality against ``reference`` when one is given."""
    if reference is not None:
        return drift_report_html(reference, current, title=title)
    from loopml.ui.svg_dist import profile_chart

    cur = _as_profile(current)
    body = [f"<h1>{escape(title)}</h1>",
            f"<p class=\"muted\">{cur.rows} rows, {len(cur.columns)} columns</p>",
            "<h2>Features</h2>"]
    body += [f"<div class=\"feat\">{profile_chart(n, p)}</div>" for n, p in cur.columns.items()]
    body += _quality_section(quality(cur))
    return _page(title, body)
