"""The per-event fast path: one row of Python values through a compiled plan, without numpy
operators on one-element arrays (research note ``streaming.md`` section 7, G6).

:meth:`Plan.push <loopml.streaming.Plan.push>` takes this path for a batch of exactly one
row dict (what :class:`~loopml.streaming.MicroBatcher` flushes at a low event rate). It is an
optimisation only: outputs, dead letters and state (snapshots) are those of the batch path,
so the two paths interleave freely. Rules use the scalar closures that ``compile_expr``
builds from the same whitelisted AST as the numpy ones (``Compiled.sfn``).

Covered: row rules (where, select, having, suppress), sliding time windows and ``count``
(their state stays the sorted ``Retained`` arrays of the batch path). Everything else
(lookup, predict, tumbling/hopping and count windows, sequences, absence), a row that the
schema rejects and a late row take the batch path on a one-row :class:`Batch`. Float sums
and averages over a window are summed in window order, so they may differ from the batch
path in the last bits (as the batch path does between batch sizes); counts, min, max,
first, last and sums of integers are exact.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from loopml.streaming._compile import RuleExec
from loopml.streaming.batch import TIME, Batch
from loopml.streaming.expr import Compiled, Fn, kind_of
from loopml.streaming.windows import AggInputs, SlidingTime

Row = dict[str, Any]
FALLBACK = object()  # ScalarRule.process result: run the batch path on a one-row Batch
_LIMIT = 2.0**62  # event times beyond an int64 of ms are dead letters (batch.ingest)


def row_spec(fields: Mapping[str, str], time_field: str) -> tuple[tuple[str, str], ...]:
    """(column, kind) in the batch path's column order, for :func:`ingest_row`; the event
    time column is a number."""
    cols = {**fields, time_field: fields.get(time_field, "timestamp[ms]")}
    return tuple((n, "num" if n == time_field else kind_of(t)) for n, t in cols.items())


def ingest_row(spec: tuple[tuple[str, str], ...], time_field: str, row: Any) -> Row | None:
    """``row`` (a dict) as ``{column: Python value}`` in the batch path's column order plus
    ``_time`` (int ms), or None when any value would be a dead letter (the caller then takes
    the batch path, which words the dead letter). Numbers become floats, as ``ingest`` makes
    float64 columns of row dicts. ``spec``: :func:`row_spec` of the source."""
    out: Row = {}
    for name, k in spec:
        v = row.get(name)
        if k == "str":
            if type(v) is not str:
                return None
            out[name] = v
        elif k == "bool":
            if not isinstance(v, bool | np.bool_):
                return None
            out[name] = bool(v)
        else:
            tv = type(v)
            if tv is not float and tv is not int and (
                    not isinstance(v, int | float | np.number) or isinstance(v, bool | np.bool_)):
                return None
            out[name] = float(v)
    tv = out[time_field]
    if not (math.isfinite(tv) and abs(tv) < _LIMIT):
        return None
    out[TIME] = int(tv)
    return out


def one_row(v: Any) -> np.ndarray:
    """A one-element column with the dtype the batch path gives the same value (strings and
    None are Python objects)."""
    if isinstance(v, np.ndarray):
        v = v.item() if v.dtype.kind in "OUS" else v.reshape(1)
        if isinstance(v, np.ndarray):
            return v
    if isinstance(v, str) or v is None:
        a = np.empty(1, object)
        a[0] = v
        return a
    return np.array([v])


def row_batch(row: Row) -> Batch:
    """A one-row :class:`Batch` of ``row`` (``_time`` int64)."""
    cols = {k: one_row(v) for k, v in row.items() if k != TIME}
    cols[TIME] = np.array([row[TIME]], np.int64)
    return Batch(cols, 1)


class ScalarRule:
    """The per-event form of one :class:`RuleExec`; :meth:`process` returns the rule's
    output as a one-row Batch, None, or ``FALLBACK``."""

    def __init__(self, rx: RuleExec) -> None:
        self.rx = rx
        fast = rx.lookup is None and rx.predict_fn is None and (
            rx.kind in ("row", "count") or rx.kind == "window" and isinstance(rx.op, SlidingTime))
        self.fast = fast
        self.where = rx.where.sfn if rx.where is not None else None
        self.select = {n: _sfn(c) for n, c in rx.select.items()}
        self.having = rx.having.sfn if rx.having is not None else None
        self.inputs: AggInputs | None = None
        if fast and rx.kind == "window":
            saggs = [a for c in rx.select.values() for a in c.saggs]
            if rx.having is not None:
                saggs += rx.having.saggs
            self.inputs = AggInputs(saggs)

    def process(self, row: Row, wm: int) -> Batch | None | object:
        if not self.fast:
            return FALLBACK
        rx = self.rx
        if self.where is not None and not self.where(row):
            return None  # the batch path's empty batch changes no state either
        if rx.kind == "window":
            out = self._window(row, wm)
        else:
            if rx.kind == "count":
                out = self._count(row, wm)
                if out is None:
                    return None
            else:
                out = row
            out = self._select(out)
            if self.having is not None and not self.having(out):
                return None
        if out is None:
            return None
        if rx.suppress is not None:
            k = rx.out_info.key
            assert k is not None
            key, t = out[k], out[TIME]
            prev = rx.suppress.last.get(key)
            kept = prev is None or t - prev >= rx.suppress.cooldown
            if kept:
                rx.suppress.last[key] = t
            rx.suppress.expire(wm)
            if not kept:
                return None
        return row_batch(out)

    def _select(self, row: Row) -> Row:
        if not self.select:
            return row
        out = {n: f(row) for n, f in self.select.items()}
        out[TIME] = row[TIME]
        return out

    def _code(self, row: Row, cols: list[str]) -> int:
        enc = self.rx.encoder
        if not cols:
            return 0
        return enc._code(row[cols[0]] if len(cols) == 1 else tuple(row[c] for c in cols))

    def _count(self, row: Row, wm: int) -> Row | None:
        rx = self.rx
        assert rx.rule.count is not None
        n = _slide(rx.op, self._code(row, [rx.key] if rx.key else []), row[TIME], [], wm)[0]
        if n < rx.rule.count.at_least:
            return None
        out = {k: v for k, v in row.items() if k != TIME}
        out["n"], out[TIME] = np.int64(n), row[TIME]
        return out

    def _window(self, row: Row, wm: int) -> Row | None:
        rx, inputs = self.rx, self.inputs
        assert inputs is not None
        vals = [_agg_value(fn(row)) for fn in inputs.fns]
        n, win = _slide(rx.op, self._code(row, rx.groups), row[TIME], vals, wm)
        env = dict(row)
        for a, i in zip(inputs.aggs, inputs.index, strict=True):
            env[a.slot] = _aggregate(a.func, n, win[i] if i >= 0 else None)
        out: Row = {g: row[g] for g in rx.groups if g not in self.select}
        for name, f in self.select.items():
            out[name] = f(env)
        out[TIME] = row[TIME]
        if self.having is not None and not self.having({**env, **out}):
            return None
        return out


def _sfn(c: Compiled) -> Fn:
    assert c.sfn is not None  # compile_expr always builds it
    return c.sfn


def _agg_value(v: Any) -> np.ndarray:
    """An aggregate input as the batch path holds it: float64 for numbers, else objects."""
    a = one_row(v)
    return a.astype(np.float64) if a.dtype.kind in "iub" else a


def _slide(op: SlidingTime, code: int, t: int, vals: list[np.ndarray], wm: int) -> tuple[int, list[np.ndarray]]:
    """Insert one event (key ``code``, time ``t``, aggregate inputs ``vals``) into ``op``'s
    sorted state exactly as ``SlidingTime.process`` does for a one-row batch; returns the
    number of events in its window and each input's window values (arrival order)."""
    st = op.state
    lo, hi = st.key.searchsorted(np.array([code, code + 1], np.int64)).tolist()  # the key's rows
    stt = st.t[lo:hi]
    horizon = wm - op.width - (1 if op.inclusive else 0)
    # ins: after equal times (arrival order); start of (t - W, t]; drop: rows <= horizon
    ins, start, drop = stt.searchsorted(np.array([t, t - op.width, horizon], np.int64), side="right").tolist()
    if op.inclusive:  # [t - W, t]
        start = int(stt.searchsorted(t - op.width, side="left"))
    if t > horizon and all(v.dtype == old.dtype for v, old in zip(vals, st.vals, strict=True)):
        # the common case, in one concatenate per array: the rows of the key that the
        # watermark expired (a prefix: times are sorted) go, the event goes in at ``ins``
        win = [np.concatenate([old[lo + start:lo + ins], v]) for old, v in zip(st.vals, vals, strict=True)]
        a, b = lo + drop, lo + ins  # drop <= ins: the dropped times are <= horizon < t
        whole = lo == 0 and hi == len(st.key)
        st.key = np.concatenate([st.key[:lo], st.key[a:b], np.array([code], np.int64), st.key[b:]])
        st.t = np.concatenate([st.t[:lo], st.t[a:b], np.array([t], np.int64), st.t[b:]])
        st.vals = [np.concatenate([old[:lo], old[a:b], v, old[b:]]) for old, v in zip(st.vals, vals, strict=True)]
        if not whole and wm - op._swept >= op.width:  # as SlidingTime.process
            st.keep(st.key, st.t, st.vals, horizon < st.t)
            op._swept = wm
        return ins + 1 - start, win
    T = np.concatenate([stt[:ins], np.array([t], np.int64), stt[ins:]])
    V, win = [], []  # the general case: the batch path's steps, on the key's rows
    for old, new in zip(st.vals, vals, strict=True):
        sv = old[lo:hi]
        dt = new.dtype if sv.dtype == new.dtype or not len(sv) else np.dtype(object)
        v = np.concatenate([sv[:ins].astype(dt, copy=False), new.astype(dt, copy=False),
                            sv[ins:].astype(dt, copy=False)])
        V.append(v)
        win.append(v[start:ins + 1])
    drop = int(T.searchsorted(horizon, side="right"))  # T is sorted: keep = horizon < T
    K = np.full(len(T) - drop, code, np.int64)
    if lo == 0 and hi == len(st.key):
        st.key, st.t, st.vals = K, T[drop:], [v[drop:] for v in V]
    else:
        st.key = np.concatenate([st.key[:lo], K, st.key[hi:]])
        st.t = np.concatenate([st.t[:lo], T[drop:], st.t[hi:]])
        st.vals = [np.concatenate([a[:lo], m[drop:], a[hi:]]) for a, m in zip(st.vals, V, strict=True)]
        if wm - op._swept >= op.width:
            st.keep(st.key, st.t, st.vals, horizon < st.t)
            op._swept = wm
    return ins + 1 - start, win


def _aggregate(func: str, n: int, w: np.ndarray | None) -> Any:
    """One aggregate over the window values ``w`` (``n`` events), with the batch path's
    result types (``count`` int64, numeric aggregates float64)."""
    if func == "count" or w is None:
        return np.int64(n)
    if func == "sum":
        return np.float64(w.sum())
    if func == "avg":
        return np.float64(w.sum()) / n
    if func == "std":
        mean = w.sum() / n
        return np.sqrt(max(float((w * w).sum()) / n - mean * mean, 0.0))
    if func == "min":
        return w.min()
    if func == "max":
        return w.max()
    if func == "first":
        return w[0]
    if func == "last":
        return w[-1]
    return np.int64(len(set(w.tolist())))  # distinctCount


__all__ = ["FALLBACK", "ScalarRule", "ingest_row", "one_row", "row_batch", "row_spec"]
