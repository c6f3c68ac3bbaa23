"""The inference log's one record type and its one Arrow schema.

A record is one answered (or refused) request. Its inputs are kept *typed and columnar*:
``{column name: 1-D array with one entry per row of the request}``, so an int64 feature
stays int64 from the request to the Parquet file to the monitor (nothing is coerced to
float or to JSON text). In Parquet the inputs are one struct column whose fields are those
columns, each a list (one list per request)::

    request_id  string
    timestamp   timestamp[us, UTC]     when the request was answered
    model       string                 the model (or route URI) that answered
    version     string
    inputs      struct<col: list<T>>   T from the data (the model signature's types)
    outputs     string                 JSON text: the predictions, or {"error": message}
    latency_ms  double
    status      int16                  the HTTP status answered
    role        string                 "primary" (answered the caller) or "shadow"

The struct's fields are the only part that varies between models; every other column is
fixed by ``ENVELOPE``. Tensors without column names are stored as columns ``f0..f<k-1>`` (a
2-D array is rows x features; a 1-D array is one row); tensors of higher rank keep each
row's sub-array under the column ``input-0``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

Columns = dict[str, np.ndarray]

#: The columns every log file has, in order, except ``inputs`` whose struct type follows
#: the model's inputs (see ``inputs_type``).
ENVELOPE: tuple[tuple[str, pa.DataType], ...] = (
    ("request_id", pa.string()),
    ("timestamp", pa.timestamp("us", "UTC")),
    ("model", pa.string()),
    ("version", pa.string()),
    ("outputs", pa.string()),
    ("latency_ms", pa.float64()),
    ("status", pa.int16()),
    ("role", pa.string()),
)
COLUMN_ORDER = ("request_id", "timestamp", "model", "version", "inputs", "outputs",
                "latency_ms", "status", "role")


def to_columns(inputs: Any) -> Columns | None:
    """Normalise what a server decoded (a DataFrame, an array, a list, an MLflow
    ``{"columns", "data"}`` split, or a mapping of named arrays) into typed columns.
    ``None`` (a refused request) stays ``None``."""
    if inputs is None:
        return None
    if hasattr(inputs, "columns") and hasattr(inputs, "dtypes"):  # a pandas DataFrame
        return {str(c): inputs[c].to_numpy() for c in inputs.columns}
    if isinstance(inputs, dict):
        if "columns" in inputs and "data" in inputs:
            import pandas as pd

            return to_columns(pd.DataFrame(inputs["data"], columns=inputs["columns"]))
        return {str(k): np.atleast_1d(np.asarray(v)) for k, v in inputs.items()}
    arr = np.asarray(inputs)
    if arr.ndim == 0:
        arr = arr.reshape(1, 1)
    elif arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim == 2:
        return {f"f{i}": arr[:, i] for i in range(arr.shape[1])}
    return {"input-0": arr}


def _default(obj: Any) -> Any:
    """Arrays orjson cannot take natively, and pandas' NA, as JSON."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if obj is None or type(obj).__name__ in ("NAType", "NaTType"):
        return None
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"cannot log a {type(obj).__name__}")


_OPT = orjson.OPT_SERIALIZE_NUMPY


def dumps(obj: Any) -> bytes:
    """JSON as the log writes it (numpy arrays and scalars included)."""
    return orjson.dumps(obj, default=_default, option=_OPT)


@dataclass(frozen=True)
class InferenceRecord:
    """One request, as the log keeps it. ``inputs`` is ``to_columns`` of what the model got
    (``None`` for a refused request); ``outputs`` is anything JSON-able (arrays included);
    ``timestamp_us`` is microseconds since the epoch (UTC)."""

    deployment: str
    request_id: str
    model: str
    version: str
    inputs: Columns | None
    outputs: Any
    latency_ms: float
    status: int = 200
    role: str = "primary"  # primary: answered the caller; shadow: a mirrored call
    timestamp_us: int = field(default_factory=lambda: time.time_ns() // 1000)

    @classmethod
    def of(cls, deployment: str, request_id: str, model: str, version: str, inputs: Any,
           outputs: Any, latency_ms: float, status: int = 200,
           role: str = "primary") -> InferenceRecord:
        """A record from what a server has at hand (inputs in any ``to_columns`` form)."""
        return cls(deployment, request_id, model, version, to_columns(inputs), outputs,
                   float(latency_ms), int(status), role)

    # -- the write-ahead form: one JSON line, types kept (dtype names beside the data) --
    def to_json_line(self) -> bytes:
        cols = None if self.inputs is None else {
            "names": list(self.inputs),
            "dtypes": [str(a.dtype) for a in self.inputs.values()],
            "data": [np.ascontiguousarray(a) if a.dtype.kind in "biuf" else a.tolist()
                     for a in self.inputs.values()]}
        return dumps({"d": self.deployment, "r": self.request_id, "m": self.model,
                      "v": self.version, "i": cols, "o": self.outputs, "l": self.latency_ms,
                      "s": self.status, "ro": self.role, "t": self.timestamp_us}) + b"\n"

    @classmethod
    def from_json_line(cls, line: bytes) -> InferenceRecord:
        d = orjson.loads(line)
        cols = d["i"]
        inputs = None if cols is None else {
            n: _array(v, t) for n, t, v in zip(cols["names"], cols["dtypes"], cols["data"],
                                                strict=True)}
        return cls(d["d"], d["r"], d["m"], d["v"], inputs, d["o"], d["l"], d["s"], d["ro"],
                   d["t"])


def _array(values: list[Any], dtype: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.dtype(dtype))
    except (TypeError, ValueError):  # pandas extension dtypes ("Int64", "string", ...)
        return np.asarray(values, dtype=object)


def _arrow_column(values: np.ndarray) -> pa.Array:
    try:
        return pa.array(values if values.ndim == 1 else list(values.tolist()))
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):  # mixed objects: keep their text
        return pa.array([None if v is None else str(v) for v in values.tolist()], pa.string())


def arrow_inputs(columns: Columns | None) -> dict[str, pa.Array] | None:
    """The record's inputs as Arrow arrays (one per column, one entry per row)."""
    if columns is None:
        return None
    return {name: _arrow_column(values) for name, values in columns.items()}


def inputs_type(arrays: dict[str, pa.Array] | None) -> tuple[tuple[str, pa.DataType], ...]:
    """The key a writer groups records by: records with equal keys share one file."""
    return () if arrays is None else tuple((n, a.type) for n, a in arrays.items())


def to_table(records: list[InferenceRecord],
             arrays: list[dict[str, pa.Array] | None]) -> pa.Table:
    """Records sharing one ``inputs_type`` (or with no inputs) as one table in the log's
    schema. ``arrays`` is ``arrow_inputs`` of each record."""
    fields = next((inputs_type(a) for a in arrays if a is not None), ())
    null = pa.array([a is None for a in arrays])
    children, names = [], []
    for name, typ in fields:
        offsets, values, total = [0], [], 0
        for a in arrays:
            if a is not None:
                values.append(a[name])
                total += len(a[name])
            offsets.append(total)
        flat = pa.concat_arrays(values) if values else pa.array([], typ)
        children.append(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), flat, mask=null))
        names.append(name)
    inputs = pa.StructArray.from_arrays(children, names=names, mask=null) if children \
        else pa.nulls(len(records))
    envelope = dict(ENVELOPE)
    cols: dict[str, pa.Array] = {
        "request_id": pa.array([r.request_id for r in records], envelope["request_id"]),
        "timestamp": pa.array([r.timestamp_us for r in records], envelope["timestamp"]),
        "model": pa.array([r.model for r in records], envelope["model"]),
        "version": pa.array([r.version for r in records], envelope["version"]),
        "inputs": inputs,
        "outputs": pa.array([dumps(r.outputs).decode() for r in records], envelope["outputs"]),
        "latency_ms": pa.array([r.latency_ms for r in records], envelope["latency_ms"]),
        "status": pa.array([r.status for r in records], envelope["status"]),
        "role": pa.array([r.role for r in records], envelope["role"]),
    }
    return pa.table({k: cols[k] for k in COLUMN_ORDER})


__all__ = ["COLUMN_ORDER", "ENVELOPE", "Columns", "InferenceRecord", "arrow_inputs", "dumps",
           "inputs_type", "to_columns", "to_table"]
