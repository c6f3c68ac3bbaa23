"""Columnar micro-batches: numpy arrays per column plus the event time (``_time``, int64
milliseconds), ingest with type checks (bad rows become dead letters, never exceptions),
and the per-key dictionary encoding that keyed operators share."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from loopml.streaming.expr import kind_of

TIME = "_time"
_MISSING = object()
_ARROW = (pa.ChunkedArray, pa.Array)  # a tuple: isinstance with an X | Y union is slower


class Batch:
    """Rows of one stream: ``cols`` maps a column name to a numpy array (all of length
    ``n``); ``cols['_time']`` is the event time in int64 milliseconds. Strings are object
    arrays."""

    __slots__ = ("cols", "n")

    def __init__(self, cols: dict[str, np.ndarray], n: int | None = None) -> None:
        self.cols = cols
        self.n = int(n if n is not None else len(cols[TIME]))

    @property
    def time(self) -> np.ndarray:
        return self.cols[TIME]

    def take(self, idx: np.ndarray) -> Batch:
        """Rows at ``idx`` (int indices or a boolean mask)."""
        if idx.dtype == bool:  # one pass over the mask, then cheap gathers per column
            idx = np.flatnonzero(idx)
        cols = {k: v[idx] for k, v in self.cols.items()}
        return Batch(cols, len(cols[TIME]))

    @staticmethod
    def concat(parts: Sequence[Batch]) -> Batch:
        parts = [p for p in parts if p.n]
        if not parts:
            return Batch({TIME: np.empty(0, np.int64)}, 0)
        if len(parts) == 1:
            return parts[0]
        names = parts[0].cols.keys()
        return Batch({k: np.concatenate([p.cols[k] for p in parts]) for k in names})

    def to_arrow(self, columns: Sequence[str] | None = None) -> pa.Table:
        names = list(columns) if columns is not None else list(self.cols)
        return pa.Table.from_arrays([_to_arrow(self.cols[k]) for k in names], names=names)

    def rows(self) -> list[dict[str, Any]]:
        return self.to_arrow().to_pylist()  # type: ignore[no-any-return]


def _to_arrow(a: np.ndarray) -> pa.Array:
    if a.dtype.kind == "O":
        try:  # untyped inference is ~100x faster than type=pa.string() on object arrays
            return pa.array(a)
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            return pa.array([str(v) if v is not None else None for v in a.tolist()])
    return pa.array(a)


def empty_like_schema(fields: Mapping[str, str]) -> Batch:
    cols: dict[str, np.ndarray] = {}
    for name, t in fields.items():
        k = kind_of(t)
        cols[name] = np.empty(0, dtype=object if k == "str" else bool if k == "bool" else np.float64)
    cols[TIME] = np.empty(0, np.int64)
    return Batch(cols, 0)


# ---- ingest ----------------------------------------------------------------------------------
def _columns_of(data: Any) -> tuple[dict[str, Any], int]:
    """Column name -> array-like, and the row count, for an Arrow table/record batch, a dict
    of arrays, or a list of row dicts (missing keys become a sentinel)."""
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return {n: data.column(n) for n in data.column_names}, data.num_rows
    if type(data) is dict or isinstance(data, Mapping):
        cols = dict(data)
        n = len(next(iter(cols.values()))) if cols else 0
        return cols, n
    if isinstance(data, Sequence):
        keys: dict[str, None] = {}
        for row in data:
            keys.update(dict.fromkeys(row))
        cols = {k: np.array([r.get(k, _MISSING) for r in data] if data else [], dtype=object)
                for k in keys}
        return cols, len(data)
    raise TypeError(f"a batch is a pyarrow.Table, a dict of arrays or a list of dicts, got {type(data).__name__}")


def _num(col: Any, n: int) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(float64/int64 array, bad-row mask or None, reason)."""
    if isinstance(col, _ARROW):
        if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
            col = col.cast(pa.timestamp("ms")).cast(pa.int64())
        bad = np.asarray(col.is_null()) if col.null_count else None
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            col = np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)
        else:
            arr = col.to_numpy(zero_copy_only=False)
            if bad is not None:
                arr = np.where(bad, 0, arr)
            return _numeric(arr), bad, "missing value"
    arr = np.asarray(col)
    if arr.dtype.kind in "iufb":
        return _numeric(arr), None, ""
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[ms]").astype(np.int64), None, ""
    out = np.zeros(n, np.float64)
    bad = np.zeros(n, bool)
    for i, v in enumerate(arr):
        if isinstance(v, int | float | np.number) and not isinstance(v, bool):
            out[i] = v
        else:
            bad[i] = True
    return out, bad, "expected a number"


def _numeric(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64, copy=False)
    return arr.astype(np.float64, copy=False)


def _strs(col: Any, n: int) -> tuple[np.ndarray, np.ndarray | None, str]:
    if isinstance(col, _ARROW):
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_dictionary(col.type):
            bad = np.asarray(col.is_null()) if col.null_count else None
            return np.asarray(col.to_numpy(zero_copy_only=False), dtype=object), bad, "missing value"
        col = col.to_numpy(zero_copy_only=False)
    arr = np.asarray(col)
    if arr.dtype.kind == "U":
        return arr.astype(object), None, ""
    if arr.dtype.kind != "O":
        return arr.astype(object), np.ones(n, bool), "expected a string"
    if set(map(type, arr.tolist())) == {str}:  # the common case: C-level passes (a list iterates faster)
        return arr, None, ""
    # None and the missing-key sentinel are not str either (reason refined below).
    bad = np.fromiter(map(_not_str, arr), bool, n)
    if not bad.any():
        return arr, None, ""
    missing = np.fromiter((v is _MISSING or v is None for v in arr[bad]), bool)
    if missing.all():
        return arr, bad, "missing value"
    return arr, bad, "expected a string"


def _not_str(v: Any) -> bool:
    return type(v) is not str


def _bools(col: Any, n: int) -> tuple[np.ndarray, np.ndarray | None, str]:
    if isinstance(col, _ARROW):
        col = col.to_numpy(zero_copy_only=False)
    arr = np.asarray(col)
    if arr.dtype.kind == "b":
        return arr, None, ""
    if arr.dtype.kind in "iu":
        return arr != 0, ((arr != 0) & (arr != 1)), "expected true/false"
    bad = np.fromiter((not isinstance(v, bool | np.bool_) for v in arr), bool, n)
    return np.array([bool(v) if not b else False for v, b in zip(arr, bad, strict=True)]), bad, "expected true/false"


def ingest(source: str, fields: Mapping[str, str], time_field: str,
           data: Any) -> tuple[Batch, list[dict[str, Any]]]:
    """Check ``data`` against the source schema: the good rows as a Batch (``_time`` in ms,
    plus every schema column) and dead-letter rows ``{source, reason, event}`` for rows
    with a missing field, a value of the wrong type or a missing/NaN event time."""
    cols, n = _columns_of(data)
    bad = np.zeros(n, bool)
    reasons: list[np.ndarray] = []  # allocated at the first bad row (rare)
    out: dict[str, np.ndarray] = {}

    def mark(mask: np.ndarray | None, reason: str) -> None:
        if mask is None or not mask.any():
            return
        if not reasons:
            reasons.append(np.empty(n, dtype=object))
        new = mask & ~bad
        reasons[0][new] = reason
        bad[new] = True

    for name, t in {**fields, time_field: fields.get(time_field, "timestamp[ms]")}.items():
        if name not in cols:
            mark(np.ones(n, bool), f"missing field {name!r}")
            continue
        col = cols[name]
        k = "num" if name == time_field else kind_of(t)
        if not isinstance(col, _ARROW):
            raw = np.asarray(col)
            if raw.dtype.kind == "O" and k == "str":
                arr, badm, why = _strs(raw, n)
                if badm is not None:  # a missing key reads the same whatever the other rows hold
                    mark(badm & np.fromiter((v is _MISSING or v is None for v in raw), bool, n),
                         f"missing field {name!r}")
                    mark(badm, f"field {name!r}: {why}")
                out[name] = arr
                continue
            if raw.dtype.kind == "O":
                missing = np.fromiter((v is _MISSING or v is None for v in raw), bool, n)
                mark(missing, f"missing field {name!r}")
                if missing.any():
                    raw = raw.copy()
                    raw[missing] = 0
            col = raw
        arr, badm, why = (_strs if k == "str" else _bools if k == "bool" else _num)(col, n)
        mark(badm, f"field {name!r}: {why}")
        out[name] = arr
    if not bad.all() or n == 0:
        tcol = out.get(time_field)
        if tcol is not None and tcol.dtype.kind in "iu":
            out[TIME] = tcol.astype(np.int64, copy=False)  # integers cannot be NaN
        elif tcol is not None:
            tf = tcol.astype(np.float64, copy=False)
            ok = np.isfinite(tf) & (np.abs(tf) < 2.0**62)  # an int64 of milliseconds
            mark(~ok, f"event time {time_field!r} is missing, NaN or out of range")
            out[TIME] = np.where(ok, tf, 0).astype(np.int64)
    dead: list[dict[str, Any]] = []
    if bad.any():
        idx = np.flatnonzero(bad)
        for i in idx:
            dead.append({"source": source, "reason": reasons[0][i], "event": _event_json(cols, int(i))})
        good = ~bad
        out = {k: v[good] for k, v in out.items()}
    if TIME not in out:
        out[TIME] = np.empty(0, np.int64)
        out = {k: v[:0] for k, v in out.items()}
    return Batch(out), dead


def _event_json(cols: Mapping[str, Any], i: int) -> str:
    row: dict[str, Any] = {}
    for k, c in cols.items():
        v = c[i]
        v = v.as_py() if hasattr(v, "as_py") else v
        if v is _MISSING:
            continue
        row[k] = v.item() if isinstance(v, np.generic) else v
    return json.dumps(row, default=str)


# ---- per-key codes -----------------------------------------------------------------------------
class KeyEncoder:
    """Stable int codes for key values across batches (first seen -> 0, 1, ...), so that
    per-key state survives batches and snapshots (``values`` is the state)."""

    def __init__(self, values: Sequence[Any] = ()) -> None:
        self.values: list[Any] = list(values)
        self._codes: dict[Any, int] = {v: i for i, v in enumerate(self.values)}

    def encode(self, arr: np.ndarray) -> np.ndarray:
        if len(arr) == 0:
            return np.empty(0, np.int64)
        if arr.dtype.kind == "O":
            try:  # the common case, every value seen before: one C-level pass
                return np.fromiter(map(self._codes.__getitem__, arr), np.int64, len(arr))
            except KeyError:
                return np.fromiter(map(self._code, arr), np.int64, len(arr))
        u, inv = np.unique(arr, return_inverse=True)
        lut = np.fromiter((self._code(v) for v in u.tolist()), np.int64, len(u))
        return lut[inv]

    def _code(self, v: Any) -> int:
        c = self._codes.get(v)
        if c is None:
            c = self._codes[v] = len(self.values)
            self.values.append(v)
        return c

    def decode(self, codes: np.ndarray) -> np.ndarray:
        vals = np.empty(len(self.values), dtype=object)
        vals[:] = self.values
        return vals[codes]


__all__ = ["Batch", "KeyEncoder", "TIME", "empty_like_schema", "ingest"]
