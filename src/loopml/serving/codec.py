"""Request and response bodies <-> numpy, for the Open Inference Protocol V2 (JSON) and
MLflow's ``/invocations`` formats.

JSON goes straight to numpy (orjson, then one ``np.asarray`` per tensor); pandas is only
built when a model needs a DataFrame. Every malformed body raises ``BadInput`` (a 400) that
names the input and what is wrong: shape, datatype, missing fields.
"""

from __future__ import annotations

import io
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


def decode_tensor(t: Any, where: str = "inputs", binary: bytes | None = None) -> Tensor:
    if not isinstance(t, dict):
        raise BadInput(f"Each of {where} must be an object with name, shape, datatype, data.")
    name = t.get("name")
    shape, datatype, data = t.get("shape"), t.get("datatype"), t.get("data")
    if not isinstance(name, str) or not name:
        raise BadInput(f"An entry of {where} has no 'name'.")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise BadInput(f"Input {name!r}: 'shape' must be a list of non-negative integers, "
                       f"got {shape!r}.")
    if datatype not in V2_TO_NUMPY:
        raise BadInput(f"Input {name!r}: unknown datatype {datatype!r}; use one of "
                       f"{sorted(V2_TO_NUMPY)}.")
    if binary is not None:
        arr = _from_binary(name, datatype, binary)
        expected = int(np.prod(shape)) if shape else 1
        if arr.size != expected:
            raise BadInput(f"Input {name!r}: shape {shape} needs {expected} values, got "
                           f"{arr.size}.")
        return Tensor(name, arr.reshape(shape) if shape else arr)
    if data is None:
        raise BadInput(f"Input {name!r} has no 'data'.")
    try:
        if datatype == "BYTES":
            arr = np.asarray(data, dtype=object).ravel()
        else:
            arr = np.asarray(data, dtype=V2_TO_NUMPY[datatype]).ravel()
    except (ValueError, TypeError):
        raise BadInput(f"Input {name!r}: data does not match datatype {datatype}.") from None
    expected = int(np.prod(shape)) if shape else 1
    if arr.size != expected:
        raise BadInput(f"Input {name!r}: shape {shape} needs {expected} values, got {arr.size}.")
    return Tensor(name, arr.reshape(shape) if shape else arr)


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
    outputs = req.get("outputs")
    names = [str(o.get("name")) for o in outputs if isinstance(o, dict)] \
        if isinstance(outputs, list) else None
    rid = req.get("id")
    tensors, offset = [], 0
    for t in req["inputs"]:
        size = (t.get("parameters") or {}).get("binary_data_size") if isinstance(t, dict) else None
        if size is None:
            tensors.append(decode_tensor(t))
            continue
        if not isinstance(size, int) or size < 0 or offset + size > len(tail):
            raise BadInput(f"Input {t.get('name')!r}: binary_data_size {size} exceeds the "
                           "binary data sent.")
        tensors.append(decode_tensor(t, binary=tail[offset:offset + size]))
        offset += size
    return tensors, rid if isinstance(rid, str) else None, names


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
def decode_invocations(body: bytes, content_type: str) -> Any:
    """MLflow's /invocations bodies: dataframe_split, dataframe_records, instances, inputs
    (JSON), or CSV with a header row. Returns a DataFrame, an array, or a dict of arrays."""
    import pandas as pd

    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "text/csv":
        try:
            return pd.read_csv(io.BytesIO(body))
        except Exception as e:
            raise BadInput(f"The CSV body could not be parsed: {e}.") from None
    if ctype not in ("application/json", ""):
        raise BadInput(f"Unsupported content type {content_type!r}: send application/json "
                       "or text/csv.")
    try:
        req = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise BadInput(f"The request body is not valid JSON: {e}.") from None
    keys = ("dataframe_split", "dataframe_records", "instances", "inputs")
    if not isinstance(req, dict) or sum(k in req for k in keys) != 1:
        raise BadInput("The body must be a JSON object with exactly one of "
                       f"{', '.join(keys)} (see MLflow's scoring protocol).")
    if "dataframe_split" in req:
        split = req["dataframe_split"]
        if not isinstance(split, dict) or "data" not in split:
            raise BadInput("dataframe_split needs 'data' (and usually 'columns').")
        try:
            # All-numeric rows (the common case) go through one float array: building a
            # DataFrame from nested lists costs ten times more.
            arr = np.asarray(split["data"], dtype=np.float64)
            if arr.ndim == 2:
                return pd.DataFrame(arr, columns=split.get("columns"))
        except (ValueError, TypeError):
            pass
        try:
            return pd.DataFrame(split["data"], columns=split.get("columns"), index=split.get("index"))
        except (ValueError, TypeError) as e:
            raise BadInput(f"dataframe_split does not form a table: {e}.") from None
    if "dataframe_records" in req:
        recs = req["dataframe_records"]
        if not isinstance(recs, list) or not all(isinstance(r, dict) for r in recs):
            raise BadInput("dataframe_records must be a list of objects (one per row).")
        return pd.DataFrame.from_records(recs)
    data = req.get("instances", req.get("inputs"))
    if isinstance(data, dict):
        return {k: np.asarray(v) for k, v in data.items()}
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return pd.DataFrame.from_records(data)
    try:
        return np.asarray(data)
    except ValueError as e:
        raise BadInput(f"instances/inputs do not form an array: {e}.") from None


def encode_invocations(predictions: Any) -> bytes:
    arr = np.asarray(predictions)
    payload: Any = arr.tolist() if arr.dtype.kind in "OUS" else np.ascontiguousarray(arr)
    return orjson.dumps({"predictions": payload}, option=orjson.OPT_SERIALIZE_NUMPY)
