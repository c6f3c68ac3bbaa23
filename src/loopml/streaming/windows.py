"""Keyed windows over micro-batches, vectorised with numpy.

- ``SlidingTime`` (per event): each event gets aggregates over the events of its key with
  time in (t - W, t] that arrived up to it (ties: earlier arrivals only, like Siddhi).
- ``CountPattern`` (per event): qualifying events of the key in [t - T, t] (inclusive).
- ``Buckets`` (tumbling [kW, (k+1)W) closed when the watermark reaches (k+1)W; hopping
  (b - W, b] at every multiple b of ``every``, closed when the watermark passes b).
- ``CountWindow``: the last N events of the key, emitted per event or every M events.

State is the retained rows only: key code, time and the aggregates' inputs (float64), so a
retained event costs 16 B plus 8 B per distinct aggregate input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from loopml.streaming.batch import TIME, Batch
from loopml.streaming.expr import Agg

_SHIFT = np.int64(1 << 40)  # composite key = code * 2**40 + (t - base): one searchsorted for all keys


class Retained:
    """Retained rows: ``key`` (int64 codes), ``t`` (int64 ms), ``vals`` (one float/object
    array per aggregate input)."""

    def __init__(self, nvals: int) -> None:
        self.key = np.empty(0, np.int64)
        self.t = np.empty(0, np.int64)
        self.vals: list[np.ndarray] = [np.empty(0, np.float64) for _ in range(nvals)]

    def extend(self, key: np.ndarray, t: np.ndarray, vals: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        if not len(self.key):
            return key, t, list(vals)
        return (np.concatenate([self.key, key]), np.concatenate([self.t, t]),
                [np.concatenate([a, b]) for a, b in zip(self.vals, vals, strict=True)])

    def keep(self, key: np.ndarray, t: np.ndarray, vals: Sequence[np.ndarray], mask: np.ndarray) -> None:
        self.key, self.t, self.vals = key[mask], t[mask], [v[mask] for v in vals]

    def snapshot(self) -> dict[str, Any]:
        return {"key": self.key, "t": self.t, "vals": list(self.vals)}

    def restore(self, s: dict[str, Any]) -> None:
        self.key, self.t, self.vals = s["key"], s["t"], list(s["vals"])

    def nbytes(self) -> int:
        return int(self.key.nbytes + self.t.nbytes + sum(v.nbytes for v in self.vals))


class AggInputs:
    """The distinct aggregate inputs of a select (``avg(temp)`` and ``max(temp)`` share one)."""

    def __init__(self, aggs: Sequence[Agg]) -> None:
        self.aggs = list(aggs)
        texts: dict[str, int] = {}
        self.index: list[int] = []
        self.fns: list[Any] = []
        for a in self.aggs:
            if a.arg is None:
                self.index.append(-1)
                continue
            inner = a.text[a.text.index("(") + 1:a.text.rindex(")")].strip()
            if inner not in texts:
                texts[inner] = len(self.fns)
                self.fns.append(a.arg)
            self.index.append(texts[inner])

    def values(self, b: Batch) -> list[np.ndarray]:
        out = []
        for fn in self.fns:
            v = np.asarray(fn(b.cols))
            if v.ndim == 0:
                v = np.full(b.n, v)
            out.append(v.astype(np.float64) if v.dtype.kind in "iub" else v)
        return out


def _sparse(values: np.ndarray, fn: Any, width: int) -> list[np.ndarray]:
    levels = [values]
    k = 1
    while 2 * k <= width:
        prev = levels[-1]
        levels.append(fn(prev[:-k], prev[k:]))
        k *= 2
    return levels


def range_reduce(values: np.ndarray, s: np.ndarray, e: np.ndarray, fn: Any) -> np.ndarray:
    """``fn``-reduce (np.minimum/np.maximum) of values[s:e+1] for every (s, e), vectorised
    with a sparse table (O(n log n))."""
    if not len(s):
        return np.empty(0, values.dtype)
    length = e - s + 1
    levels = _sparse(values, fn, int(length.max()))
    lv = np.floor(np.log2(length)).astype(np.int64)
    out = np.empty(len(s), values.dtype)
    for j in np.unique(lv):
        m = lv == j
        table = levels[j]
        out[m] = fn(table[s[m]], table[e[m] - (1 << j) + 1])
    return out


def window_aggs(inputs: AggInputs, vals: list[np.ndarray], s: np.ndarray, e: np.ndarray) -> dict[str, np.ndarray]:
    """Aggregates over sorted rows [s, e] (inclusive) for each output row."""
    out: dict[str, np.ndarray] = {}
    cum: dict[tuple[int, int], np.ndarray] = {}
    n = (e - s + 1).astype(np.int64)

    def csum(i: int, power: int) -> np.ndarray:
        if (i, power) not in cum:
            v = vals[i] if power == 1 else vals[i] * vals[i]
            cum[(i, power)] = np.concatenate([[0.0], np.cumsum(v)])
        c = cum[(i, power)]
        return c[e + 1] - c[s]  # type: ignore[no-any-return]

    for a, i in zip(inputs.aggs, inputs.index, strict=True):
        if a.func == "count":
            out[a.slot] = n
        elif a.func == "sum":
            out[a.slot] = csum(i, 1)
        elif a.func == "avg":
            out[a.slot] = csum(i, 1) / n
        elif a.func == "std":
            mean = csum(i, 1) / n
            out[a.slot] = np.sqrt(np.maximum(csum(i, 2) / n - mean * mean, 0.0))
        elif a.func in ("min", "max"):
            out[a.slot] = range_reduce(vals[i], s, e, np.minimum if a.func == "min" else np.maximum)
        elif a.func == "first":
            out[a.slot] = vals[i][s]
        elif a.func == "last":
            out[a.slot] = vals[i][e]
        elif a.func == "distinctCount":
            v = vals[i]
            out[a.slot] = np.fromiter((len(set(v[a0:b0 + 1].tolist())) for a0, b0 in zip(s, e, strict=True)),
                                      np.int64, len(s))
    return out


class SlidingTime:
    """Per-event aggregates over (t - W, t] of the key (``inclusive``: [t - W, t])."""

    def __init__(self, width: int, inputs: AggInputs, inclusive: bool = False) -> None:
        self.width, self.inputs, self.inclusive = width, inputs, inclusive
        self.state = Retained(len(inputs.fns))
        self._swept = np.iinfo(np.int64).min // 2

    def process(self, key: np.ndarray, b: Batch, wm: int) -> dict[str, np.ndarray]:
        """Aggregates for each row of ``b`` (keys ``key``), then retain what the watermark
        ``wm`` may still need. The retained rows stay sorted by (key, time, arrival), so a
        batch is sorted alone and merged in (no re-sort of the state)."""
        vals = self.inputs.values(b)
        st = self.state
        if b.n == 0:
            return {a.slot: np.empty(0) for a in self.inputs.aggs}
        # b is in event-time order (ties: arrival), as the stream's gate leaves it, so a
        # stable sort by key alone gives (key, time, arrival) order
        ob = np.argsort(key, kind="stable")
        kb, tb = key[ob], b.time[ob]
        # Only the state rows of the batch's key range take part (one key's rows for a
        # single event); the rest is swept once per window width.
        lo = int(np.searchsorted(st.key, kb[0], side="left"))
        hi = int(np.searchsorted(st.key, kb[-1], side="right"))
        sk, stt, sv = st.key[lo:hi], st.t[lo:hi], [v[lo:hi] for v in st.vals]
        base = min(int(tb.min()), int(stt.min()) if len(stt) else int(tb.min())) - self.width - 1
        cb = kb * _SHIFT + (tb - base)
        cr = sk * _SHIFT + (stt - base)
        pos = np.searchsorted(cr, cb, side="right") + np.arange(len(cb))  # rows of the batch in the merge
        n = len(cr) + len(cb)
        old = np.ones(n, bool)
        old[pos] = False
        c = np.empty(n, np.int64)
        c[pos], c[old] = cb, cr
        K = np.empty(n, np.int64)
        K[pos], K[old] = kb, sk
        T = np.empty(n, np.int64)
        T[pos], T[old] = tb, stt
        V = []
        for v_new, v_old in zip(vals, sv, strict=True):
            v = np.empty(n, v_new.dtype if v_new.dtype == v_old.dtype or not len(v_old) else object)
            v[pos], v[old] = v_new[ob], v_old
            V.append(v)
        starts = np.searchsorted(c, cb - self.width, side="left" if self.inclusive else "right")
        aggs = window_aggs(self.inputs, V, starts, pos)
        inv = np.empty(len(ob), np.int64)
        inv[ob] = np.arange(len(ob))
        out = {k: v[inv] for k, v in aggs.items()}
        horizon = wm - self.width - (1 if self.inclusive else 0)
        keep = horizon < T
        if lo == 0 and hi == len(st.key):
            st.keep(K, T, V, keep)
        else:
            st.key = np.concatenate([st.key[:lo], K[keep], st.key[hi:]])
            st.t = np.concatenate([st.t[:lo], T[keep], st.t[hi:]])
            st.vals = [np.concatenate([a[:lo], m[keep], a[hi:]]) for a, m in zip(st.vals, V, strict=True)]
            if wm - self._swept >= self.width:
                st.keep(st.key, st.t, st.vals, horizon < st.t)
                self._swept = wm
        return out

    def snapshot(self) -> dict[str, Any]:
        return self.state.snapshot()

    def restore(self, s: dict[str, Any]) -> None:
        self.state.restore(s)


class CountWindow:
    """The last ``size`` events of the key (arrival order); emits on every event, or on
    every ``every``-th event of the key."""

    def __init__(self, size: int, inputs: AggInputs, every: int | None = None) -> None:
        self.size, self.inputs, self.every = size, inputs, every
        self.state = Retained(len(inputs.fns))
        self.seen = np.zeros(0, np.int64)  # events seen per key code

    def process(self, key: np.ndarray, b: Batch) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(rows of ``b`` that emit, their aggregates)."""
        vals = self.inputs.values(b)
        n_r = len(self.state.key)
        K, T, V = self.state.extend(key, b.time, vals)
        N = len(K)
        order = np.argsort(K, kind="stable")
        Ks = K[order]
        first = np.searchsorted(Ks, Ks, side="left")
        last = np.searchsorted(Ks, Ks, side="right") - 1
        pos = np.arange(N)
        starts = np.maximum(pos - self.size + 1, first)
        inv = np.empty(N, np.int64)
        inv[order] = pos
        pb = inv[n_r:]
        if len(key) and key.max() >= len(self.seen):
            self.seen = np.concatenate([self.seen, np.zeros(key.max() + 1 - len(self.seen), np.int64)])
        emit = np.ones(len(key), bool)
        if self.every:
            count = self.seen[key] + _rank_in_batch(key) + 1
            emit = count % self.every == 0
        np.add.at(self.seen, key, 1)
        aggs = window_aggs(self.inputs, [v[order] for v in V], starts[pb][emit], pb[emit])
        keep_sorted = (last - pos) < self.size - 1
        keep = np.empty(N, bool)
        keep[order] = keep_sorted
        self.state.keep(K, T, V, keep)
        return np.flatnonzero(emit), aggs

    def snapshot(self) -> dict[str, Any]:
        return {**self.state.snapshot(), "seen": self.seen}

    def restore(self, s: dict[str, Any]) -> None:
        self.state.restore(s)
        self.seen = s["seen"]


def _rank_in_batch(key: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... per key in arrival order."""
    order = np.argsort(key, kind="stable")
    ks = key[order]
    start = np.searchsorted(ks, ks, side="left")
    r = np.empty(len(key), np.int64)
    r[order] = np.arange(len(key)) - start
    return r


class Buckets:
    """Tumbling (``every`` None: windows [kW, (k+1)W), closed when wm >= (k+1)W) or hopping
    (windows (b - W, b] for b a multiple of ``every``, closed when wm > b) windows; emits one
    row per (window, key) with at least one event, in window order then key code order."""

    def __init__(self, width: int, inputs: AggInputs, every: int | None = None) -> None:
        self.width, self.inputs, self.every = width, inputs, every
        self.state = Retained(len(inputs.fns))
        # the watermark of the previous call: a hopping row stays for its later windows, and
        # the windows that this watermark had closed were emitted then (not again)
        self.emitted_wm = np.iinfo(np.int64).min // 2

    def _windows(self, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row index, window end) pairs: each row in every window that holds it."""
        if self.every is None:
            return np.arange(len(T)), (T // self.width + 1) * self.width
        E = self.every
        first = -(-T // E) * E  # ceil to a multiple of E: the first b with t <= b
        reps = -(-(T + self.width - first) // E)  # b in [first, t + W)
        rows = np.repeat(np.arange(len(T)), reps)
        offs = np.arange(len(rows)) - np.repeat(np.cumsum(reps) - reps, reps)
        return rows, first[rows] + offs * E

    def _closed(self, ends: np.ndarray, wm: int) -> np.ndarray:
        return ends <= wm if self.every is None else ends < wm

    def process(self, key: np.ndarray, b: Batch, wm: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(key codes, window ends, aggregates) of the windows the watermark ``wm`` closed."""
        vals = self.inputs.values(b)
        K, T, V = self.state.extend(key, b.time, vals)
        rows, ends = self._windows(T)
        closed = self._closed(ends, wm) & ~self._closed(ends, self.emitted_wm)
        self.emitted_wm = max(self.emitted_wm, wm)
        last_end = np.full(len(T), np.iinfo(np.int64).min)
        np.maximum.at(last_end, rows, ends)
        self.state.keep(K, T, V, ~self._closed(last_end, wm))
        rows, ends = rows[closed], ends[closed]
        if not len(rows):
            return np.empty(0, np.int64), np.empty(0, np.int64), {a.slot: np.empty(0) for a in self.inputs.aggs}
        order = np.lexsort((rows, K[rows], ends))
        rows, ends = rows[order], ends[order]
        gk = K[rows]
        brk = np.flatnonzero((np.diff(ends) != 0) | (np.diff(gk) != 0)) + 1
        s = np.concatenate([[0], brk])
        e = np.concatenate([brk - 1, [len(rows) - 1]])
        aggs = window_aggs(self.inputs, [v[rows] for v in V], s, e)
        return gk[s], ends[s], aggs

    def snapshot(self) -> dict[str, Any]:
        return {**self.state.snapshot(), "emitted_wm": self.emitted_wm}

    def restore(self, s: dict[str, Any]) -> None:
        self.state.restore(s)
        self.emitted_wm = int(s.get("emitted_wm", self.emitted_wm))


def retained_bytes(ops: Sequence[Any]) -> int:
    return sum(op.state.nbytes() for op in ops if hasattr(op, "state"))


__all__ = ["AggInputs", "Buckets", "CountWindow", "Retained", "SlidingTime", "TIME",
           "range_reduce", "window_aggs"]
