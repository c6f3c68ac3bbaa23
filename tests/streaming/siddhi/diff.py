"""Run one SiddhiQL app through loopml and through Siddhi and diff the outputs, stream by stream.

Order rules (what "identical" means):

- per-event outputs (filter, sliding/length windows, having, count, patterns, absence): the
  same rows in the same order; the row is (event time, selected values...). Siddhi's event
  timestamp is compared with loopml's ``_time``.
- tumbling outputs (timeBatch, lengthBatch): Siddhi stamps a window's row with the time of
  the group's last event, loopml with the window end, so rows are compared per window
  (``time // W``; loopml: ``_time // W - 1``), sorted by key. Only windows that loopml
  closed are compared (Siddhi also flushes the last, open one at the flush event).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from tests.streaming.siddhi.oracle import Row
from tests.streaming.siddhi.traces import Trace, batches


@dataclass
class Diff:
    stream: str
    siddhi_rows: int
    loopml_rows: int
    first: str  # "" when identical

    @property
    def identical(self) -> bool:
        return not self.first


def run_loopml(plan: object, trace: Trace, *, batch: int = 512,
               advance_to: int | None = None) -> dict[str, pa.Table]:
    """Push the trace in arrival order, ``batch`` events at a time; then move event time to
    ``advance_to`` (a heartbeat) so that absence timers fire."""
    (table,) = trace.streams
    for b in batches(table, batch):
        plan.push(table.name, b)  # type: ignore[attr-defined]
    if advance_to is not None:
        plan.advance(table.name, advance_to)  # type: ignore[attr-defined]
    return plan.collect()  # type: ignore[attr-defined,no-any-return]


def loopml_rows(table: pa.Table | None, columns: list[str]) -> list[Row]:
    if table is None:
        return []
    cols = [table.column("_time").to_pylist()] + [table.column(c).to_pylist() for c in columns]
    return [tuple(_norm(v) for v in row) for row in zip(*cols, strict=True)]


def _norm(v: object) -> object:
    # loopml may carry integer columns as float64 after a pattern; Siddhi writes ints.
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def siddhi_norm(rows: Iterable[Row]) -> list[Row]:
    return [tuple(_norm(v) for v in r) for r in rows]


def diff_per_event(stream: str, siddhi: list[Row], loopml: list[Row]) -> Diff:
    s = siddhi_norm(siddhi)
    first = ""
    for i, (a, b) in enumerate(zip(s, loopml, strict=False)):
        if a != b:
            first = f"row {i}: siddhi {a} loopml {b}"
            break
    if not first and len(s) != len(loopml):
        i = min(len(s), len(loopml))
        extra = s[i] if len(s) > i else loopml[i]
        first = f"row {i}: only in {'siddhi' if len(s) > i else 'loopml'}: {extra}"
    return Diff(stream, len(s), len(loopml), first)


def diff_windows(stream: str, siddhi: list[Row], loopml: list[Row], width: int) -> Diff:
    """Tumbling rows compared per (window, row values) for the windows loopml closed."""
    lm = sorted(((int(r[0]) // width - 1, *r[1:]) for r in loopml), key=repr)
    closed = {r[0] for r in lm}
    last = max(closed, default=-1)
    sd = sorted(((int(r[0]) // width, *r[1:]) for r in siddhi_norm(siddhi)
                 if int(r[0]) // width <= last), key=repr)
    return diff_per_event(stream, sd, lm)


def diff_app(rules: dict, siddhi: dict[str, list[Row]], loopml: dict[str, pa.Table]) -> dict[str, Diff]:
    """One Diff per output stream of the rule dict (``rules['rules'][i]['as']``)."""
    out: dict[str, Diff] = {}
    for rule in rules["rules"]:
        stream = rule["as"]
        columns = list(rule.get("select") or {})
        lm = loopml_rows(loopml.get(stream), columns)
        window = rule.get("window") or {}
        if "tumbling" in window:
            out[stream] = diff_windows(stream, siddhi.get(stream, []), lm, window["tumbling"])
        else:
            out[stream] = diff_per_event(stream, siddhi.get(stream, []), lm)
    return out
