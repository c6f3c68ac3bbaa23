"""Model signatures in MLflow's format: inference from training data and enforcement at
predict time.

Two kinds, as in MLflow: column-based (a DataFrame: names and MLflow types) and tensor-based
(an array: numpy dtype and shape, -1 for any size). The MLmodel file stores each schema as a
JSON string, which is what makes loopml and MLflow read each other's signatures.

Enforcement never guesses silently: a missing column, an extra column, or a value of the
wrong type raises ``SignatureMismatch`` naming the column, the expected type and the type
received. Safe widenings (int32 -> int64, float32 -> float64, integers -> double) are applied.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from loopml.errors import InvalidParameterValue

# MLflow type name -> numpy dtype.
MLFLOW_TYPES: dict[str, Any] = {
    "boolean": np.dtype("bool"), "integer": np.dtype("int32"), "long": np.dtype("int64"),
    "float": np.dtype("float32"), "double": np.dtype("float64"), "string": np.dtype("O"),
    "binary": np.dtype("O"), "datetime": np.dtype("datetime64[ns]"),
}
_NUMERIC_RANK = {"boolean": 0, "integer": 1, "long": 2, "float": 3, "double": 4}


class SignatureMismatch(InvalidParameterValue):
    """The input does not match the model's signature (a 400 when served)."""


@dataclass(frozen=True)
class ColSpec:
    type: str
    name: str | None = None
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type}
        if self.name is not None:
            d["name"] = self.name
        d["required"] = self.required
        return d


@dataclass(frozen=True)
class TensorSpec:
    dtype: str
    shape: tuple[int, ...]
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "tensor",
                             "tensor-spec": {"dtype": self.dtype, "shape": list(self.shape)}}
        if self.name is not None:
            d["name"] = self.name
        return d


Spec = ColSpec | TensorSpec


@dataclass(frozen=True)
class Schema:
    specs: tuple[Spec, ...]

    @property
    def is_tensor(self) -> bool:
        return bool(self.specs) and isinstance(self.specs[0], TensorSpec)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs if s.name is not None]

    def to_json(self) -> str:
        return orjson.dumps([s.to_dict() for s in self.specs]).decode()

    @classmethod
    def from_json(cls, text: str) -> Schema:
        out: list[Spec] = []
        for d in orjson.loads(text):
            if d.get("type") == "tensor":
                ts = d["tensor-spec"]
                out.append(TensorSpec(ts["dtype"], tuple(int(x) for x in ts["shape"]),
                                      d.get("name")))
            else:
                out.append(ColSpec(d["type"], d.get("name"), bool(d.get("required", True))))
        return cls(tuple(out))


@dataclass(frozen=True)
class ModelSignature:
    inputs: Schema
    outputs: Schema | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": self.inputs.to_json(),
                "outputs": self.outputs.to_json() if self.outputs else None, "params": None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSignature:
        outs = d.get("outputs")
        return cls(Schema.from_json(d["inputs"]), Schema.from_json(outs) if outs else None)


# ---- inference ---------------------------------------------------------------------------
def _mlflow_type(dtype: np.dtype[Any], values: Any = None) -> str:
    kind = dtype.kind
    if kind == "b":
        return "boolean"
    if kind in "iu":
        return "integer" if dtype.itemsize <= 4 and kind == "i" else "long"
    if kind == "f":
        return "float" if dtype.itemsize <= 4 else "double"
    if kind == "M":
        return "datetime"
    if kind in "OSU":
        if values is not None and len(values) and all(isinstance(v, bytes) for v in values[:100]):
            return "binary"
        return "string"
    raise InvalidParameterValue(f"Cannot describe dtype {dtype} in a signature.")


def _schema_of(data: Any) -> Schema:
    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, pd.DataFrame):
        # A column with missing values (NaN, None, pandas' <NA> in nullable Int64/boolean)
        # is optional, as MLflow infers it: enforcement then keeps its gaps (nullable
        # dtypes) instead of casting <NA> to int64, which raises a bare ValueError.
        return Schema(tuple(
            ColSpec(_mlflow_type(data[c].dtype, data[c].to_numpy()), str(c),
                    required=not bool(data[c].isna().any()))
            for c in data.columns
        ))
    arr = np.asarray(data)
    if arr.dtype.kind in "OU":
        arr = arr.astype(object)
    shape = (-1, *arr.shape[1:])
    return Schema((TensorSpec(str(arr.dtype), shape),))


def infer_signature(model_input: Any, model_output: Any = None) -> ModelSignature:
    """Describe training inputs (and optionally predictions) as a signature."""
    return ModelSignature(
        _schema_of(model_input), _schema_of(model_output) if model_output is not None else None
    )


# ---- enforcement -------------------------------------------------------------------------
def _as_frame(data: Any, schema: Schema) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, dict):
        return pd.DataFrame({k: np.atleast_1d(v) for k, v in data.items()})
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return pd.DataFrame.from_records(data)
    arr = np.asarray(data)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    names = schema.names
    if arr.ndim != 2 or arr.shape[1] != len(names):
        raise SignatureMismatch(
            f"Input of shape {arr.shape} does not match the signature's {len(names)} columns "
            f"{names}. Send a table with those columns (e.g. dataframe_split or records)."
        )
    return pd.DataFrame(arr, columns=names)


def _convert_column(col: pd.Series, spec: ColSpec) -> pd.Series:
    got = col.dtype
    want = spec.type
    where = f"Column {spec.name!r}: expected {want}"
    if want in ("string", "binary"):
        vals = col.to_numpy()
        py = str if want == "string" else bytes
        bad = next((v for v in vals if not isinstance(v, py) and not pd.isna(v)), None)
        if bad is not None:
            raise SignatureMismatch(f"{where}, got {type(bad).__name__} ({bad!r:.40}).")
        return col
    if want == "datetime":
        if got.kind != "M":
            raise SignatureMismatch(f"{where}, got {got}.")
        return col
    # numeric and boolean
    if got.kind == "O":
        try:
            converted = pd.to_numeric(col, errors="raise")
        except (ValueError, TypeError):
            bad = next((v for v in col if not isinstance(v, int | float | bool | np.number)), None)
            raise SignatureMismatch(
                f"{where}, got {type(bad).__name__} ({bad!r:.40})." if bad is not None
                else f"{where}, got {got}.") from None
        col, got = converted, converted.dtype
    if got.kind not in "biuf":
        raise SignatureMismatch(f"{where}, got {got}.")
    if want in _NULLABLE and bool(col.isna().any()):
        return _nullable_column(col, spec, where)
    have = _mlflow_type(got)
    if want == "boolean" and have != "boolean":
        raise SignatureMismatch(f"{where}, got {have} ({got}).")
    if _NUMERIC_RANK[have] > _NUMERIC_RANK[want] and not (
        have in ("integer", "long") and want in ("integer", "long", "float")
        and (col.isna().all() or bool((col.astype("int64") == col).all()))
    ):
        raise SignatureMismatch(
            f"{where}, got {have} ({got}); converting would lose information. Send {want} "
            "values or re-log the model with a signature of the wider type."
        )
    if have in ("float", "double") and want in ("integer", "long"):
        raise SignatureMismatch(f"{where}, got {have} ({got}).")
    return col.astype(MLFLOW_TYPES[want])


# Integer and boolean columns cannot hold a missing value in numpy; pandas' nullable dtypes
# can (<NA>).
_NULLABLE = {"integer": "Int32", "long": "Int64", "boolean": "boolean"}


def _nullable_column(col: pd.Series, spec: ColSpec, where: str) -> pd.Series:
    """A numeric column with gaps, for an integer or boolean spec: refused when the spec
    requires a value in every row, else given pandas' nullable dtype (values must convert
    without loss: 2.0 is a long, 2.5 is not)."""
    n = int(col.isna().sum())
    if spec.required:
        raise SignatureMismatch(
            f"{where}, got {n} missing value(s); the signature requires a value in every row "
            "(re-log the model with this column optional to allow gaps).")
    present = col.dropna()
    if spec.type == "boolean":
        ok = present.map(lambda v: isinstance(v, bool | np.bool_) or v in (0, 1)).all()
    else:
        num = pd.to_numeric(present, errors="coerce")
        ok = bool(num.notna().all()) and bool((num == num.round()).all())
    if not ok:
        raise SignatureMismatch(f"{where}, got {col.dtype} values that are not {spec.type}.")
    try:
        return col.astype(_NULLABLE[spec.type])
    except (ValueError, TypeError, OverflowError) as e:
        raise SignatureMismatch(f"{where}: {e}.") from None


@functools.lru_cache(maxsize=256)
def _exact(schema: Schema) -> tuple[list[str], list[np.dtype[Any]]]:
    """The column names and dtypes of an input that needs no conversion at all."""
    specs = [s for s in schema.specs if isinstance(s, ColSpec)]
    return [str(s.name) for s in specs], [MLFLOW_TYPES[s.type] for s in specs]


def enforce_columns(schema: Schema, data: Any) -> pd.DataFrame:
    frame = _as_frame(data, schema)
    names, dtypes = _exact(schema)
    # Fast path (the serving hot path): right columns, right order, right dtypes. Checking
    # costs microseconds; rebuilding the frame column by column costs a millisecond.
    if list(frame.columns) == names and frame.dtypes.tolist() == dtypes and \
            "string" not in {s.type for s in schema.specs if isinstance(s, ColSpec)}:
        return frame
    specs = [s for s in schema.specs if isinstance(s, ColSpec)]
    expected = [s.name for s in specs]
    have = [str(c) for c in frame.columns]
    missing = [s.name for s in specs if s.required and s.name not in have]
    if missing:
        raise SignatureMismatch(
            f"Missing column(s) {missing}: the model's signature requires {expected}."
        )
    extra = [c for c in have if c not in expected]
    if extra:
        raise SignatureMismatch(
            f"Column(s) {extra} are not in the model's signature {expected}. Remove them."
        )
    out = {s.name: _convert_column(frame[s.name], s) for s in specs if s.name in have}
    return pd.DataFrame(out, index=frame.index)


def enforce_tensor(schema: Schema, data: Any) -> np.ndarray:
    spec = schema.specs[0]
    assert isinstance(spec, TensorSpec)
    if isinstance(data, pd.DataFrame):
        data = data.to_numpy()
    arr = np.asarray(data)
    want = np.dtype(spec.dtype)
    label = f"Input {spec.name!r}" if spec.name else "Input"
    if arr.ndim == len(spec.shape) - 1 and arr.ndim >= 1:
        arr = arr.reshape(1, *arr.shape)  # one row sent without its batch dimension
    if arr.ndim != len(spec.shape) or any(
        w != -1 and w != g for w, g in zip(spec.shape, arr.shape, strict=True)
    ):
        raise SignatureMismatch(
            f"{label}: expected shape {list(spec.shape)} (-1 = any), got {list(arr.shape)}."
        )
    if arr.dtype == want:
        return arr
    if want.kind == "O":
        return arr.astype(object)
    if arr.dtype.kind == "O":
        try:
            return arr.astype(want)
        except (ValueError, TypeError):
            raise SignatureMismatch(f"{label}: expected {want}, got non-numeric values.") from None
    if np.can_cast(arr.dtype, want, casting="same_kind") or (
        arr.dtype.kind in "iub" and want.kind == "f"
    ):
        return arr.astype(want)
    raise SignatureMismatch(f"{label}: expected dtype {want}, got {arr.dtype}.")


def enforce(signature: ModelSignature | None, data: Any) -> Any:
    """Check and convert ``data`` to the signature's inputs; no signature means no checks."""
    if signature is None or not signature.inputs.specs:
        return data
    if signature.inputs.is_tensor:
        return enforce_tensor(signature.inputs, data)
    return enforce_columns(signature.inputs, data)
