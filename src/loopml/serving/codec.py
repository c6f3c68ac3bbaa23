"""Request and response bodies <-> numpy, for the Open Inference Protocol V2 (JSON) and
MLflow's ``/invocations`` formats.

JSON goes straight to numpy (orjson, then one ``np.asarray`` per tensor); pandas is only
built when a model needs a DataFrame. Every malformed body raises ``BadInput`` (a 400) that
names the input and what is wrong: shape, datatype, missing fields.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from loopml.errors import InvalidParameterValue

V2_TO_NUMPY: dict[str, Any] = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
    "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
    "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
    "BYTES": np.object_,
}
NUMPY_TO_V2 = {np.dtype(v).str: k for k, v in V2_TO_NUMPY.items() if k != "BYTES"}


class BadInput(InvalidParameterValue):
    """A request the model cannot take (HTTP 400, gRPC INVALID_ARGUMENT)."""


@dataclass
class Tensor:
    name: str
    data: np.ndarray


def v2_datatype(arr: np.ndarray) -> str:
    if arr.dtype.kind in "OUS":
        return "BYTES"
    return NUMPY_TO_V2.get(arr.dtype.str, "FP64")


def _from_binary(name: str, datatype: str, blob: bytes) -> np.ndarray:
    if datatype == "BYTES":
        out, i = [], 0
        while i < len(blob):
            n = int.from_bytes(blob[i:i + 4], "little")
            out.append(blob[i + 4:i + 4 + n])
            i += 4 + n
        return np.asarray(out, dtype=object)
    dtype = np.dtype(V2_TO_NUMPY[datatype]).newbyteorder("<")
    if len(blob) % dtype.itemsize:
        raise BadInput(f"Input {name!r}: {len(blob)} bytes of binary data is not a whole number "
                       f"of {datatype} values.")
    return np.frombuffer(blob, dtype=dtype)


def shaped(name: str, shape: list[int], arr: np.ndarray) -> Tensor:
    """``arr`` (flat) reshaped to ``shape``. The element count is a Python int product, so
    a shape such as [2**62, 4] cannot wrap around int64 to match the data sent."""
    expected = math.prod(shape)
    if arr.size != expected:
        raise BadInput(f"Input {name!r}: shape {shape} needs {expected} values, got "
                       f"{arr.size}.")
    return Tensor(name, arr.reshape(shape) if shape else arr)


def check_shape(name: str, shape: Any) -> list[int]:
    """A V2 tensor's ``shape`` as a list of ints, each in [0, 2**63); raises ``BadInput``
    (400) for anything else (Open Inference Protocol: shape is a list of int64 sizes)."""
    if not isinstance(shape, list) or not all(
            type(d) is int and 0 <= d < 2**63 for d in shape):
        raise BadInput(f"Input {name!r}: 'shape' must be a list of non-negative integers, "
                       f"got {shape!r}.")
    return shape


def to_array(name: str, datatype: str, data: Any) -> np.ndarray:
    """JSON data (flat or nested row-major) as a flat array of ``datatype``. Values the type
    cannot hold (INT8 1000, INT64 2**64, text in FP32) and ragged nesting are a BadInput."""
    try:
        if datatype == "BYTES":
            return np.asarray(data, dtype=object).ravel()
        return np.asarray(data, dtype=V2_TO_NUMPY[datatype]).ravel()
    except (ValueError, TypeError, OverflowError) as e:
        dt = V2_TO_NUMPY[datatype]
        rng = (f" (integers in [{np.iinfo(dt).min}, {np.iinfo(dt).max}])"
               if np.issubdtype(dt, np.integer) else "")
        raise BadInput(f"Input {name!r}: data does not match datatype {datatype}{rng}: "
                       f"{e}.") from None


def decode_tensor(t: Any, where: str = "inputs", binary: bytes | None = None) -> Tensor:
    if not isinstance(t, dict):
        raise BadInput(f"Each of {where} must be an object with name, shape, datatype, data.")
    name = t.get("name")
    shape, datatype, data = t.get("shape"), t.get("datatype"), t.get("data")
    if not isinstance(name, str) or not name:
        raise BadInput(f"An entry of {where} has no 'name'.")
    shape = check_shape(name, shape)
    if not isinstance(datatype, str) or datatype not in V2_TO_NUMPY:
        raise BadInput(f"Input {name!r}: unknown datatype {datatype!r}; use one of "
                       f"{sorted(V2_TO_NUMPY)}.")
    if binary is not None:
        return shaped(name, shape, _from_binary(name, datatype, binary))
    if data is None:
        raise BadInput(f"Input {name!r} has no 'data'.")
    return shaped(name, shape, to_array(name, datatype, data))


def _parameters(t: Any, where: str) -> dict[str, Any]:
    p = t.get("parameters") if isinstance(t, dict) else None
    if p is None:
        return {}
    if not isinstance(p, dict):
        raise BadInput(f"'parameters' of {where} must be an object, got {p!r:.80}.")
    return p


def decode_v2_request(body: bytes, header_length: int | None = None
                      ) -> tuple[list[Tensor], str | None, list[str] | None]:
    """-> (inputs, request id, requested output names or None).

    ``header_length`` (the ``Inference-Header-Content-Length`` header) marks the binary
    tensor extension: the first bytes are the JSON, the rest the inputs' raw data in order,
    each sized by its ``parameters.binary_data_size`` (what tritonclient sends by default).
    """
    tail = b""
    if header_length is not None:
        if not 0 < header_length <= len(body):
            raise BadInput(f"Inference-Header-Content-Length {header_length} does not fit a "
                           f"body of {len(body)} bytes.")
        body, tail = body[:header_length], body[header_length:]
    try:
        req = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise BadInput(f"The request body is not valid JSON: {e}.") from None
    if not isinstance(req, dict) or not isinstance(req.get("inputs"), list) or not req["inputs"]:
        raise BadInput("A V2 inference request needs a non-empty 'inputs' list: "
                       '{"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", '
                       '"data": [...]}]}.')
    _parameters(req, "the request")
    names = _output_names(req.get("outputs"))
    rid = req.get("id")
    tensors, offset = [], 0
    for t in req["inputs"]:
        size = _parameters(t, "an input").get("binary_data_size")
        if size is None:
            tensors.append(decode_tensor(t))
            continue
        if type(size) is not int or size < 0 or offset + size > len(tail):
            raise BadInput(f"Input {t.get('name')!r}: binary_data_size {size} exceeds the "
                           "binary data sent.")
        tensors.append(decode_tensor(t, binary=tail[offset:offset + size]))
        offset += size
    return tensors, rid if isinstance(rid, str) else None, names


def _output_names(outputs: Any) -> list[str] | None:
    """The request's ``outputs`` (``[{"name": "predict_proba"}, ...]``) as names; None when
    absent. Anything else is a BadInput."""
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(
            isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs):
        raise BadInput("'outputs' must be a list of objects with a 'name', e.g. "
                       '[{"name": "predict_proba"}].')
    return [o["name"] for o in outputs]


def parse_header_length(value: str | None) -> int | None:
    """``Inference-Header-Content-Length``: ASCII digits, else a BadInput (``"²".isdigit()``
    is true in Python, and ``int("²")`` raises)."""
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise BadInput(f"Inference-Header-Content-Length must be a byte count, got {value!r}.")
    return int(value)


def encode_tensor(name: str, arr: np.ndarray) -> dict[str, Any]:
    a = np.asarray(arr)
    if a.dtype.kind in "OUS":
        data: Any = [x.decode() if isinstance(x, bytes) else str(x) for x in a.ravel()]
    else:
        data = a.ravel()
    return {"name": name, "shape": list(a.shape), "datatype": v2_datatype(a), "data": data}


def encode_v2_response(model: str, version: str | None, rid: str | None,
                       outputs: dict[str, np.ndarray]) -> bytes:
    out: dict[str, Any] = {"model_name": model, "outputs": [
        encode_tensor(n, a) for n, a in outputs.items()]}
    if version:
        out["model_version"] = version
    if rid:
        out["id"] = rid
    return orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY)


# ---- MLflow scoring protocol --------------------------------------------------------------
def loads_lenient(body: bytes) -> Any:
    """JSON with Python's ``NaN``, ``Infinity`` and ``-Infinity`` tokens, which
    ``json.dumps`` writes and MLflow's scoring server accepts. orjson (strict JSON) reads
    the body first; only a body it refuses is read again with the standard library, so the
    common case keeps orjson's speed."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise BadInput(f"The request body is not valid JSON: {e}.") from None


def _column_array(name: str, values: Any) -> np.ndarray:
    try:
        return np.asarray(values)
    except ValueError as e:  # ragged nesting
        raise BadInput(f"Input {name!r} does not form an array: {e}.") from None


# V2 datatypes that a float column may have to become (whole numbers only).
_INT_V2 = frozenset(k for k, v in V2_TO_NUMPY.items() if k != "BYTES" and np.dtype(v).kind in "iu")


def typed_frame(frame: Any, columns: dict[str, str] | None, all_float: bool = False) -> Any:
    """Give each column the signature's V2 type where the JSON or CSV could not say it and
    the conversion loses nothing: an all-numeric ``dataframe_split`` arrives as doubles,
    so a ``long`` column's whole numbers become int64 again (and a ``double`` column's ints
    become float64). Anything else is left for the signature check to report."""
    if columns and all_float:  # one float64 block: only integer columns can need a change
        columns = {c: t for c, t in columns.items() if t in _INT_V2}
    if not columns:
        return frame
    # The kinds are read once from ``dtypes``: ``frame[col]`` for every column costs about
    # 20 us each (30 columns: more than the rest of a 1-row request); only a column that
    # needs converting is materialised.
    kinds = {c: getattr(t, "kind", "O") for c, t in frame.dtypes.items()}
    for col, v2 in columns.items():
        kind = kinds.get(col)
        if kind is None or v2 not in V2_TO_NUMPY or v2 == "BYTES":
            continue
        target = np.dtype(V2_TO_NUMPY[v2])
        if target.kind in "iu" and kind == "f":
            vals = frame[col].to_numpy()
            if len(vals) and np.isfinite(vals).all() and (vals == np.round(vals)).all() and \
                    np.abs(vals).max() < 2**53:
                frame[col] = vals.astype(target)
        elif target.kind == "f" and kind in "iu":
            frame[col] = frame[col].astype(target)
    return frame


def decode_invocations(body: bytes, content_type: str,
                       columns: dict[str, str] | None = None) -> Any:
    """MLflow's /invocations bodies: dataframe_split, dataframe_records, instances, inputs
    (JSON, where ``NaN``/``Infinity`` tokens are accepted), or CSV with a header row.
    Returns a DataFrame, an array, or a dict of arrays. ``columns`` ({name: V2 datatype},
    from the model's signature) types the columns of a table (``typed_frame``)."""
    import pandas as pd

    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "text/csv":
        try:
            return typed_frame(pd.read_csv(io.BytesIO(body)), columns)
        except Exception as e:
            raise BadInput(f"The CSV body could not be parsed: {e}.") from None
    if ctype not in ("application/json", ""):
        raise BadInput(f"Unsupported content type {content_type!r}: send application/json "
                       "or text/csv.")
    req = loads_lenient(body)
    keys = ("dataframe_split", "dataframe_records", "instances", "inputs")
    if not isinstance(req, dict) or sum(k in req for k in keys) != 1:
        raise BadInput("The body must be a JSON object with exactly one of "
                       f"{', '.join(keys)} (see MLflow's scoring protocol).")
    if "dataframe_split" in req:
        frame, all_float = _split_frame(req["dataframe_split"])
        return typed_frame(frame, columns, all_float)
    if "dataframe_records" in req:
        recs = req["dataframe_records"]
        if not isinstance(recs, list) or not all(isinstance(r, dict) for r in recs):
            raise BadInput("dataframe_records must be a list of objects (one per row).")
        return typed_frame(pd.DataFrame.from_records(recs), columns)
    data = req.get("instances", req.get("inputs"))
    if isinstance(data, dict):
        return {str(k): _column_array(str(k), v) for k, v in data.items()}
    if not isinstance(data, list) or not data:
        raise BadInput("instances/inputs must be a non-empty list (rows) or an object "
                       f"(one list per input), got {data!r:.80}.")
    if isinstance(data[0], dict):
        if not all(isinstance(r, dict) for r in data):
            raise BadInput("instances/inputs mixes objects and other values; send one object "
                           "per row.")
        return typed_frame(pd.DataFrame.from_records(data), columns)
    return _column_array("instances/inputs", data)


def _split_frame(split: Any) -> tuple[Any, bool]:
    """(the table, whether it was built from one float64 array)."""
    import pandas as pd

    if not isinstance(split, dict) or not isinstance(split.get("data"), list):
        raise BadInput("dataframe_split needs 'data' (a list of rows) and usually 'columns'.")
    cols, index = split.get("columns"), split.get("index")
    if cols is not None and not (isinstance(cols, list) and all(
            isinstance(c, str | int) for c in cols)):
        raise BadInput(f"dataframe_split 'columns' must be a list of names, got {cols!r:.80}.")
    if index is not None and not isinstance(index, list):
        raise BadInput(f"dataframe_split 'index' must be a list, got {index!r:.80}.")
    try:
        # All-numeric rows (the common case) go through one float array: building a
        # DataFrame from nested lists costs ten times more. typed_frame restores ints.
        arr = np.asarray(split["data"], dtype=np.float64)
        if arr.ndim == 2 and (cols is None or len(cols) == arr.shape[1]):
            return pd.DataFrame(arr, columns=cols), True
    except (ValueError, TypeError, OverflowError):
        pass
    try:
        return pd.DataFrame(split["data"], columns=cols, index=index), False
    except (ValueError, TypeError, AssertionError) as e:
        raise BadInput(f"dataframe_split does not form a table: {e}.") from None


def encode_invocations(predictions: Any) -> bytes:
    arr = np.asarray(predictions)
    payload: Any = arr.tolist() if arr.dtype.kind in "OUS" else np.ascontiguousarray(arr)
    return orjson.dumps({"predictions": payload}, option=orjson.OPT_SERIALIZE_NUMPY)
