"""How step outputs are stored, by type: DataFrames and Arrow tables to Parquet, arrays to
``.npy`` (never pickled), models to the loopml/MLflow model format, JSON-able values to JSON.

``MATERIALIZERS`` is a table in priority order; a plugin adds a row the same way the
built-ins do. Nothing here unpickles: arrays load with ``allow_pickle=False`` and models go
through ``loopml.models.load``, which refuses pickles that were not trusted.
"""

from __future__ import annotations

import hashlib
import tempfile
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from loopml.artifacts import BlobStore
from loopml.errors import InvalidParameterValue


@dataclass(frozen=True)
class Materializer:
    kind: str
    suffix: str  # file suffix, or "/" for a folder
    handles: Callable[[Any], bool]
    handles_type: Callable[[Any], bool]
    save: Callable[[Any, Path], None]
    load: Callable[[Path], Any]


def _is(module: str, name: str) -> Callable[[Any], bool]:
    def check(obj: Any) -> bool:
        return any(c.__module__.split(".")[0] == module and c.__name__ == name
                   for c in type(obj).__mro__)
    return check


def _is_type(module: str, name: str) -> Callable[[Any], bool]:
    def check(tp: Any) -> bool:
        return isinstance(tp, type) and any(
            c.__module__.split(".")[0] == module and c.__name__ == name for c in tp.__mro__)
    return check


def _save_pandas(obj: Any, p: Path) -> None:
    obj.to_parquet(p, index=not _default_index(obj))


def _default_index(df: Any) -> bool:
    import pandas as pd

    idx = df.index
    return isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1 and idx.name is None


def _load_pandas(p: Path) -> Any:
    import pandas as pd

    return pd.read_parquet(p)


def _save_series(obj: Any, p: Path) -> None:
    obj.to_frame(name=obj.name if obj.name is not None else "__series__").to_parquet(p)


def _load_series(p: Path) -> Any:
    import pandas as pd

    col = pd.read_parquet(p).iloc[:, 0]
    return col.rename(None) if col.name == "__series__" else col


def _save_polars(obj: Any, p: Path) -> None:
    obj.write_parquet(p)


def _load_polars(p: Path) -> Any:
    import polars as pl

    return pl.read_parquet(p)


def _save_arrow(obj: Any, p: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(obj, p)


def _load_arrow(p: Path) -> Any:
    import pyarrow.parquet as pq

    return pq.read_table(p)


def _save_npy(obj: Any, p: Path) -> None:
    if obj.dtype == object:
        raise TypeError("an object-dtype array (it would need pickle); convert it to numbers "
                        "or strings, or return a DataFrame")
    with open(p, "wb") as f:
        np.save(f, obj, allow_pickle=False)


def _load_npy(p: Path) -> Any:
    return np.load(p, allow_pickle=False)


_JSON_TYPES = (dict, list, tuple, str, int, float, bool, type(None))


def _is_jsonable(obj: Any) -> bool:
    return isinstance(obj, (*_JSON_TYPES, np.generic))


def _jsonable_type(tp: Any) -> bool:
    origin = typing.get_origin(tp) or tp
    return origin in (dict, list, tuple, str, int, float, bool, type(None)) or tp is None


def _save_json(obj: Any, p: Path) -> None:
    p.write_bytes(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY
                               | orjson.OPT_NON_STR_KEYS))


def _load_json(p: Path) -> Any:
    return orjson.loads(p.read_bytes())


def _model_flavor(obj: Any) -> str | None:
    """The model flavor that saves ``obj`` without pickle, or None. The catch-all pyfunc
    flavor (anything with predict) is left out: it pickles."""
    from loopml.models.flavors import flavor_for

    try:
        f = flavor_for(obj)
    except InvalidParameterValue:  # no flavor saves this object
        return None
    return None if f.name == "python_function" else f.name


def _model_type(tp: Any) -> bool:
    if not isinstance(tp, type):
        return False
    roots = {("sklearn", "BaseEstimator"), ("lightgbm", "Booster"), ("lightgbm", "LGBMModel"),
             ("xgboost", "Booster"), ("xgboost", "XGBModel"), ("torch", "Module"),
             ("onnx", "ModelProto")}
    return any((c.__module__.split(".")[0], c.__name__) in roots for c in tp.__mro__)


def _save_model(obj: Any, p: Path) -> None:
    from loopml.models import save_model

    save_model(obj, p)  # picks the same flavor `handles` found (pyfunc was ruled out there)


def _load_model(p: Path) -> Any:
    from loopml.models import load

    return load(str(p)).native


MATERIALIZERS: list[Materializer] = [
    Materializer("pandas", ".parquet", _is("pandas", "DataFrame"),
                 _is_type("pandas", "DataFrame"), _save_pandas, _load_pandas),
    Materializer("pandas-series", ".parquet", _is("pandas", "Series"),
                 _is_type("pandas", "Series"), _save_series, _load_series),
    Materializer("polars", ".parquet", _is("polars", "DataFrame"),
                 _is_type("polars", "DataFrame"), _save_polars, _load_polars),
    Materializer("arrow", ".parquet", _is("pyarrow", "Table"), _is_type("pyarrow", "Table"),
                 _save_arrow, _load_arrow),
    Materializer("numpy", ".npy", lambda o: isinstance(o, np.ndarray),
                 lambda t: isinstance(t, type) and issubclass(t, np.ndarray), _save_npy,
                 _load_npy),
    Materializer("json", ".json", _is_jsonable, _jsonable_type, _save_json, _load_json),
    Materializer("model", "/", lambda o: _model_flavor(o) is not None, _model_type,
                 _save_model, _load_model),
]
_BY_KIND = {m.kind: m for m in MATERIALIZERS}


def for_object(obj: Any) -> Materializer:
    for m in MATERIALIZERS:
        if m.handles(obj):
            return m
    raise TypeError(
        f"a {type(obj).__module__}.{type(obj).__qualname__}, which loopml cannot store between "
        "steps. Return a pandas/polars DataFrame, an Arrow table, a numpy array, a model "
        "(scikit-learn, LightGBM, XGBoost, PyTorch, ONNX) or a JSON value (dict, list, str, "
        "number, bool, None)")


def type_storable(tp: Any) -> bool:
    """Whether a return annotation names something a materializer can store. ``Any``,
    unions and unresolved names pass: they are checked on the value at run time."""
    if tp is Any or tp is inspect_empty or isinstance(tp, str | typing.TypeVar):
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return all(type_storable(a) for a in typing.get_args(tp))
    if origin is typing.Annotated:
        return type_storable(typing.get_args(tp)[0])
    return any(m.handles_type(tp) for m in MATERIALIZERS)


inspect_empty = __import__("inspect").Parameter.empty


def save_output(obj: Any, blobs: BlobStore, root_uri: str, path: str,
                provenance: str = "") -> dict[str, Any]:
    """Store ``obj`` under ``path`` (no suffix) in ``blobs``; returns its reference.

    The digest is the file's sha256, except for models: their files are not byte-stable
    (MLmodel records a uuid and a time; skops names archive members by object id), so a
    model's digest is derived from ``provenance``, the cache key of the step attempt that
    made it, which is what downstream cache keys need."""
    m = for_object(obj)
    with tempfile.TemporaryDirectory(prefix="loopml-out-") as tmp:
        local = Path(tmp) / ("data" if m.suffix == "/" else f"data{m.suffix}")
        m.save(obj, local)
        if m.suffix == "/":
            rel = path
            digest = hashlib.sha256(f"model|{provenance}|{path}".encode()).hexdigest()
            blobs.put_dir(rel, local)
            size = sum(f.stat().st_size for f in local.rglob("*") if f.is_file())
        else:
            rel = path + m.suffix
            res = blobs.put_file(rel, local)
            digest, size = res.sha256, res.size
    return {"uri": root_uri, "path": rel, "digest": digest, "kind": m.kind, "size": size}


def load_output(ref: dict[str, Any], blobs: BlobStore) -> Any:
    m = _BY_KIND.get(ref["kind"])
    if m is None:
        raise TypeError(f"No materializer for stored kind {ref['kind']!r}.")
    with tempfile.TemporaryDirectory(prefix="loopml-in-") as tmp:
        if m.suffix == "/":
            local = blobs.get_dir(ref["path"], Path(tmp) / "data")
        else:
            local = Path(tmp) / f"data{m.suffix}"
            blobs.get_file(ref["path"], local)
        return m.load(local)


def value_digest(value: Any) -> str:
    """Digest of a parameter or literal input, for the cache key."""
    try:
        raw = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY
                           | orjson.OPT_NON_STR_KEYS)
    except TypeError:
        raw = repr(value).encode()
    return hashlib.sha256(raw).hexdigest()
