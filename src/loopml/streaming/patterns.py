"""Per-key patterns that keep partial matches: sequences (followed-by and strict), absence
and suppression. The masks are vectorised; the loop runs only over the events that match a
step (rare in practice), except strict sequences, which look at every event of the key.

State is plain data (dicts of lists of numbers and strings), so snapshots are JSON/msgpack.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from loopml.streaming.batch import TIME, Batch


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


class SequenceOp:
    """``steps`` (one (stream, mask function, columns) per step) matched per key in arrival
    order; a match completes when the last step's event comes no later than ``within``
    after the first (inclusive). ``every``: each first-step event starts a match (else only
    one match is ever made, as Siddhi without ``every``). ``strict``: the next event of the
    key on the steps' streams must match the next step, or the partial match is dropped.

    Output rows: for step alias ``a`` and column ``c``, column ``a_c``; ``_time`` = the last
    event's time."""

    def __init__(self, aliases: Sequence[str], streams: Sequence[str], columns: Sequence[Sequence[str]],
                 within: int, strict: bool, every: bool,
                 pair_checks: dict[int, Callable[[Any], Any]] | None = None) -> None:
        self.aliases, self.streams = list(aliases), list(streams)
        self.columns = [list(c) for c in columns]
        # step j -> condition over the earlier steps' values (e1_x, ...) and the event's own
        # columns, evaluated per partial match (Siddhi's e2[temp > e1.temp]).
        self.pair_checks = dict(pair_checks or {})
        self._prev_names = [[f"{a}_{c}" for a, cs in zip(self.aliases[:j], self.columns[:j], strict=True)
                             for c in cs] for j in range(len(self.aliases))]
        self.within, self.strict, self.every = within, strict, every
        # key -> list per step j (1..n-1) of partial matches waiting for step j: [start_t, row...]
        self.pending: dict[Any, list[list[list[Any]]]] = {}
        self.done = False  # without `every`: the one match was made
        self._swept = np.iinfo(np.int64).min // 2

    @property
    def out_columns(self) -> list[str]:
        return [f"{a}_{c}" for a, cols in zip(self.aliases, self.columns, strict=True) for c in cols] + [TIME]

    def process(self, stream: str, keys: np.ndarray, b: Batch, masks: dict[int, np.ndarray], wm: int) -> list[list[Any]]:
        """Completed matches (rows in ``out_columns`` order) for the events of ``b`` on
        ``stream``; ``masks``: step index -> boolean mask over ``b`` for that stream's steps."""
        n = len(self.aliases)
        if not masks:
            return []
        any_mask = np.zeros(b.n, bool)
        for m in masks.values():
            any_mask |= m
        idx = np.arange(b.n) if self.strict else np.flatnonzero(any_mask)
        out: list[list[Any]] = []
        # Python values of the candidate rows only, converted once per batch (tolist is C).
        cols = {j: [b.cols[c][idx].tolist() for c in self.columns[j]] for j in masks}
        hits = {j: m[idx].tolist() for j, m in masks.items()}
        key_l, t_l = keys[idx].tolist(), b.time[idx].tolist()
        for r in range(len(idx)):
            key, t = key_l[r], t_l[r]
            pend = self.pending.get(key)
            if pend is None:
                pend = self.pending[key] = [[] for _ in range(n)]
            advanced: list[list[Any]] = []
            for j in range(n - 1, 0, -1):
                waiting = pend[j]
                if not waiting:
                    continue
                if j in hits and hits[j][r]:
                    alive = [p for p in waiting if t - p[0] <= self.within]
                    row = [c[r] for c in cols[j]]
                    pend[j] = []
                    if j in self.pair_checks:
                        alive, rest = self._check(j, alive, row)
                        if not self.strict:
                            pend[j] = rest  # they wait for a later event that meets the condition
                    for p in alive:
                        if j == n - 1:
                            out.append(p[1:] + row + [t])
                        else:
                            advanced.append([j + 1, p + row])
                elif self.strict:
                    pend[j] = []
            for j, p in advanced:
                pend[j].append(p)
            if 0 in hits and hits[0][r] and not self.done:
                pend[1].append([t] + [c[r] for c in cols[0]])
                if not self.every:
                    self.done = True
        if len(out) and not self.every:
            self.pending.clear()
        # Sweeping all keys is O(state): do it when the watermark moved half a window, so
        # partial matches live at most 1.5 x within.
        if wm - self._swept >= self.within // 2:
            self._expire(wm)
            self._swept = wm
        return out

    def _check(self, j: int, alive: list[list[Any]], row: list[Any]) -> tuple[list[list[Any]], list[list[Any]]]:
        """(partial matches whose cross-step condition holds with this event, the others,
        which keep waiting for a later event)."""
        own = dict(zip(self.columns[j], row, strict=True))
        names, check = self._prev_names[j], self.pair_checks[j]
        ok: list[list[Any]] = []
        rest: list[list[Any]] = []
        for p in alive:
            env = {**dict(zip(names, p[1:], strict=True)), **own}
            (ok if bool(check(env)) else rest).append(p)
        return ok, rest

    def _expire(self, wm: int) -> None:
        """Drop partial matches that can no longer complete (bounded state)."""
        dead = []
        for key, pend in self.pending.items():
            for j in range(1, len(pend)):
                if pend[j]:
                    pend[j] = [p for p in pend[j] if p[0] >= wm - self.within]
            if not any(pend):
                dead.append(key)
        for key in dead:
            del self.pending[key]

    def snapshot(self) -> dict[str, Any]:
        return {"pending": [[k, v] for k, v in self.pending.items()], "done": self.done}

    def restore(self, s: dict[str, Any]) -> None:
        self.pending = {k: v for k, v in s["pending"]}
        self.done = bool(s["done"])


class AbsentOp:
    """An arming event (``after`` mask; all events when None) starts a timer of ``within``;
    an event of the key matching ``cancel`` (all when None) at a time in [t_arm, t_arm + T)
    that arrives later cancels it (Siddhi's ``not ... for T``: an event at the arming time
    that arrives after the arming event cancels; one exactly T later does not). A timer fires once the watermark passes t_arm + T; the
    output row is the arming event's columns with ``_time`` = t_arm + T."""

    def __init__(self, within: int, columns: Sequence[str]) -> None:
        self.within, self.columns = within, list(columns)
        # key -> [[deadline, seq, row...], ...]; seq numbers arming events in arrival order,
        # which orders alerts that share a deadline (as Siddhi does) whatever the batching
        self.pending: dict[Any, list[list[Any]]] = {}
        self.seq = 0

    def process(self, keys: np.ndarray, b: Batch, after: np.ndarray | None,
                cancel: np.ndarray | None, wm: int) -> list[list[Any]]:
        if after is None and cancel is None:
            idx = np.arange(b.n)
        else:
            m = np.zeros(b.n, bool)
            m |= np.ones(b.n, bool) if after is None else after
            m |= np.ones(b.n, bool) if cancel is None else cancel
            idx = np.flatnonzero(m)
        cols = [b.cols[c] for c in self.columns]
        t_arr = b.time
        for i in idx:
            key, t = _py(keys[i]), int(t_arr[i])
            if cancel is None or cancel[i]:
                pend = self.pending.get(key)
                if pend:
                    self.pending[key] = [p for p in pend if not (p[0] - self.within <= t < p[0])]
            if after is None or after[i]:
                self.seq += 1
                self.pending.setdefault(key, []).append(
                    [t + self.within, self.seq] + [_py(c[i]) for c in cols])
        return self.fire(wm)

    def fire(self, wm: int) -> list[list[Any]]:
        due: list[list[Any]] = []
        for key in list(self.pending):
            keep: list[list[Any]] = []
            for p in self.pending[key]:
                (due if p[0] < wm else keep).append(p)
            if keep:
                self.pending[key] = keep
            else:
                del self.pending[key]
        # deadline, then arrival of the arming event: the same order whatever the batching
        due.sort(key=lambda p: (p[0], p[1]))
        return [p[2:] + [p[0]] for p in due]

    def snapshot(self) -> dict[str, Any]:
        return {"pending": [[k, v] for k, v in self.pending.items()], "seq": self.seq}

    def restore(self, s: dict[str, Any]) -> None:
        if "seq" not in s:  # a snapshot from before arrival numbers: number them now
            entries = sorted(((p[0], k, i) for k, v in s["pending"] for i, p in enumerate(v)),
                             key=lambda e: (e[0], _order(e[1]), e[2]))
            order = {(k, i): n for n, (_, k, i) in enumerate(entries, 1)}
            s = {"seq": len(entries), "pending": [
                [k, [[p[0], order[(k, i)], *p[1:]] for i, p in enumerate(v)]]
                for k, v in s["pending"]]}
        self.pending = {k: v for k, v in s["pending"]}
        self.seq = int(s["seq"])


def _order(key: Any) -> tuple[bool, str, Any]:
    return (key is None, type(key).__name__, key if key is not None else 0)


class SuppressOp:
    """Per-key cooldown: keep a row when no row of its key was kept in the last ``cooldown``
    ms (a row exactly ``cooldown`` after the last kept one is kept)."""

    def __init__(self, cooldown: int) -> None:
        self.cooldown = cooldown
        self.last: dict[Any, int] = {}

    def keep(self, keys: np.ndarray, times: np.ndarray) -> np.ndarray:
        out = np.zeros(len(keys), bool)
        for i in range(len(keys)):
            k, t = _py(keys[i]), int(times[i])
            prev = self.last.get(k)
            if prev is None or t - prev >= self.cooldown:
                out[i] = True
                self.last[k] = t
        return out

    def expire(self, wm: int) -> None:
        if len(self.last) > 1024:
            self.last = {k: t for k, t in self.last.items() if t > wm - self.cooldown}

    def snapshot(self) -> dict[str, Any]:
        return {"last": [[k, v] for k, v in self.last.items()]}

    def restore(self, s: dict[str, Any]) -> None:
        self.last = {k: v for k, v in s["last"]}


__all__ = ["AbsentOp", "SequenceOp", "SuppressOp"]
