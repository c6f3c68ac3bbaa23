"""A model as the server runs it: loaded once, fed numpy batches, described in V2 metadata.

ONNX Runtime runs the model when it has an ``onnx`` flavor (single rows in tens of
microseconds instead of milliseconds); otherwise the native flavor does. Inputs are checked
against the signature before they are queued, so a bad request fails alone with a 400 and
never reaches a batch.
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loopml.errors import LoopmlError
from loopml.models import Model
from loopml.models._load import load_folder
from loopml.models.signature import ColSpec, SignatureMismatch, TensorSpec
from loopml.models.uris import resolve
from loopml.serving.codec import V2_TO_NUMPY, BadInput, Tensor, v2_datatype

_V2_OF_MLFLOW = {"boolean": "BOOL", "integer": "INT32", "long": "INT64", "float": "FP32",
                 "double": "FP64", "string": "BYTES", "binary": "BYTES", "datetime": "BYTES"}


@dataclass
class InputSpec:
    names: list[str]  # signature column names (tabular) or [tensor name]
    v2_types: list[str]  # the V2 datatype of each name
    dtype: np.dtype[Any]
    width: int | None  # features per row for 2-D inputs
    tabular: bool
    string_columns: bool

    @functools.cached_property
    def column_types(self) -> dict[str, str] | None:
        """{column: V2 datatype} of a tabular signature (None otherwise), built once: the
        /invocations decoder types each request's table with it."""
        return dict(zip(self.names, self.v2_types, strict=True)) if self.tabular else None


def _spec(model: Model) -> InputSpec:
    sig = model.signature
    if sig is None or not sig.inputs.specs:
        return InputSpec(["input-0"], ["FP64"], np.dtype(np.float64), None, False, False)
    specs = sig.inputs.specs
    if isinstance(specs[0], TensorSpec):
        t = specs[0]
        width = t.shape[1] if len(t.shape) == 2 and t.shape[1] > 0 else None
        return InputSpec([t.name or "input-0"], [v2_datatype(np.zeros(1, t.dtype))],
                         np.dtype(t.dtype), width, False, False)
    cols = [s for s in specs if isinstance(s, ColSpec)]
    strings = any(c.type in ("string", "binary") for c in cols)
    return InputSpec([str(c.name) for c in cols], [_V2_OF_MLFLOW.get(c.type, "BYTES") for c in cols],
                     np.dtype(np.float64), len(cols), True, strings)


class ServedModel:
    def __init__(self, name: str, uri: str, trust: bool = False, prefer_onnx: bool = True,
                 version: str | None = None, convert_onnx: bool = False,
                 client: Any = None) -> None:
        """``client``: the TrackingClient ``models:/`` and ``runs:/`` URIs resolve
        through (the process's composition root gives it; None: the fluent client)."""
        self.name = name
        self.uri = uri
        resolved = resolve(uri, client)
        self.version = version or (str(resolved.version.version) if resolved.version else "1")
        self.folder = resolved.folder
        self.conversion: str | None = None
        base = load_folder(resolved.folder, trust or resolved.trusted, None, uri)
        if convert_onnx and "onnx" not in base.meta.flavors:
            base = self._convert(base, trust or resolved.trusted)
        self.model: Model = base
        self.base = base  # the native flavor: what explanations run on, even under ONNX
        self._explainer: Any = None
        self._explain_lock = threading.Lock()
        if prefer_onnx and "onnx" in base.meta.flavors and base.flavor.name != "onnx":
            self.model = load_folder(self.folder, trust or resolved.trusted, "onnx", uri)
        self.spec = _spec(base)
        self.platform = f"loopml_{self.model.flavor.name}"
        # Tabular models fitted on DataFrames need one; everything else takes arrays.
        self.needs_frame = self.spec.string_columns or hasattr(self.model.native, "feature_names_in_")
        # A model fitted on a DataFrame gets a numpy array when the signature's columns are
        # its own, in its order: scikit-learn then skips building and validating a frame
        # (HistGradientBoosting, 1 row: 0.5 ms instead of 1.6 ms). Its "X does not have
        # valid feature names" warning is silenced once for the process.
        names = getattr(self.model.native, "feature_names_in_", None)
        self.array_ok = (names is not None and self.spec.tabular
                         and not self.spec.string_columns
                         and [str(n) for n in names] == self.spec.names
                         and self.model.flavor.name == "sklearn")
        if self.array_ok:
            warnings.filterwarnings("ignore", message="X does not have valid feature names",
                                    category=UserWarning)
        self.size_bytes = sum(f.stat().st_size for f in self.folder.rglob("*") if f.is_file())
        self.outputs: dict[str, OutputSpec] = _outputs(self.model)

    def _convert(self, base: Model, trust: bool) -> Model:
        """Deploy-time ONNX export on a private copy of the folder; the parity check decides.
        A model that cannot be converted keeps serving natively (the reason is reported)."""
        import shutil
        import tempfile
        from pathlib import Path

        from loopml.models.onnx_export import export_folder

        copy = Path(tempfile.mkdtemp(prefix="loopml-serve-onnx-")) / "model"
        shutil.copytree(self.folder, copy)
        try:
            result = export_folder(copy, trust=trust)
        except Exception as e:  # no sample rows, unreadable input example, ...
            self.conversion = f"not converted: {e}"
            return base
        self.conversion = "converted" if result.converted else result.reason
        if not result.converted:
            return base
        self.folder = copy
        return load_folder(copy, trust, None, self.uri)

    # ---- input preparation (per request, before batching) --------------------------------
    def rows_from_v2(self, inputs: list[Tensor]) -> np.ndarray | pd.DataFrame:
        """Turn a V2 request's tensors into rows: either one 2-D tensor (all features) or one
        1-D tensor per signature column."""
        spec = self.spec
        if len(inputs) == 1 and inputs[0].data.ndim in (1, 2) and not (
            spec.tabular and inputs[0].name in spec.names and len(spec.names) > 1
        ):
            arr = inputs[0].data
            if arr.ndim == 1:
                arr = arr.reshape(1, -1)
            if spec.width is not None and arr.shape[1] != spec.width:
                raise BadInput(
                    f"Input {inputs[0].name!r}: expected shape [-1, {spec.width}] "
                    f"({spec.width} features per row), got {list(inputs[0].data.shape)}.")
            if spec.tabular and spec.string_columns:
                return self._checked_frame(pd.DataFrame(arr, columns=spec.names))
            if arr.dtype.kind not in "biuf":
                raise BadInput(f"Input {inputs[0].name!r}: expected numbers "
                               f"({v2_datatype(np.zeros(1, spec.dtype))}), got BYTES.")
            return arr.astype(spec.dtype, copy=False)
        by_name = {t.name: t.data for t in inputs}
        missing = [n for n in spec.names if n not in by_name]
        if missing:
            raise BadInput(f"Missing input(s) {missing}: the model's signature has inputs "
                           f"{spec.names}.")
        extra = [n for n in by_name if n not in spec.names]
        if extra:
            raise BadInput(f"Input(s) {extra} are not in the model's signature {spec.names}.")
        lengths = {len(v.ravel()) for v in by_name.values()}
        if len(lengths) != 1:
            raise BadInput(f"Inputs have different row counts {sorted(lengths)}; send one "
                           "value per row for every input.")
        cols = {}
        for n, t in zip(spec.names, spec.v2_types, strict=True):
            v = by_name[n].ravel()
            if t == "BYTES" and v.dtype == object:
                v = _as_text(n, v)
            cols[n] = v
        return self._checked_frame(pd.DataFrame(cols))

    def rows_from_any(self, data: Any) -> np.ndarray | pd.DataFrame:
        """/invocations payloads: a DataFrame, an array or a dict of arrays."""
        if isinstance(data, dict):
            data = pd.DataFrame({k: np.ravel(v) for k, v in data.items()})
        if isinstance(data, pd.DataFrame):
            if self.spec.tabular:
                return self._checked_frame(data)
            return data.to_numpy()
        arr = np.asarray(data)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if self.spec.tabular:
            if arr.shape[1] != len(self.spec.names):
                raise BadInput(f"Expected {len(self.spec.names)} values per row "
                               f"({self.spec.names}), got {arr.shape[1]}.")
            return self._checked_frame(pd.DataFrame(arr, columns=self.spec.names))
        if self.spec.width is not None and arr.ndim == 2 and arr.shape[1] != self.spec.width:
            # Unchecked, a wrong width reached ONNX Runtime and came back as a 500.
            raise BadInput(f"Expected {self.spec.width} values per row, got {arr.shape[1]}.")
        return arr

    def _checked_frame(self, frame: pd.DataFrame) -> np.ndarray | pd.DataFrame:
        try:
            checked = self.model.prepare(frame)
        except SignatureMismatch as e:
            raise BadInput(e.message) from None
        if isinstance(checked, pd.DataFrame) and not self.needs_frame:
            return checked.to_numpy()
        return checked  # type: ignore[no-any-return]

    # ---- prediction (per batch) ------------------------------------------------------------
    def predict_rows(self, rows: np.ndarray | pd.DataFrame) -> np.ndarray:
        native = self.model.native
        if isinstance(rows, pd.DataFrame) and not self.needs_frame:
            rows = rows.to_numpy()
        if isinstance(rows, np.ndarray) and hasattr(native, "feature_names_in_") and \
                not self.array_ok:
            rows = pd.DataFrame(rows, columns=list(native.feature_names_in_))
        out = np.asarray(self.model.flavor.predict(native, rows))
        return out

    def predict_outputs(self, rows: np.ndarray | pd.DataFrame, names: tuple[str, ...]
                        ) -> dict[str, np.ndarray]:
        """The requested outputs (names checked by ``check_outputs``) of one batch, each cast
        to the datatype ``metadata`` declares for it."""
        out: dict[str, np.ndarray] = {}
        for n in names:
            if n == "predict":
                out[n] = self.predict_rows(rows)
                continue
            native = self.model.native
            if isinstance(rows, pd.DataFrame) and not self.needs_frame:
                rows = rows.to_numpy()
            if isinstance(rows, np.ndarray) and hasattr(native, "feature_names_in_"):
                rows = pd.DataFrame(rows, columns=list(native.feature_names_in_))
            out[n] = np.asarray(self.model.flavor.predict_proba(native, rows))
        return {n: self.outputs[n].cast(a) for n, a in out.items()}

    def check_outputs(self, names: list[str] | None) -> tuple[str, ...] | None:
        """A V2 request's ``outputs`` names -> the tuple to predict, or None for the default
        (``predict`` alone, the batcher's fast path). An unknown name is a ``BadInput``
        that lists the outputs this model has."""
        if not names or names == ["predict"]:
            return None
        unknown = [n for n in names if n not in self.outputs]
        if unknown:
            raise BadInput(f"Output(s) {unknown} are not outputs of model {self.name!r}; it has "
                           f"{sorted(self.outputs)}.")
        return tuple(dict.fromkeys(names))

    def explain(self, rows: np.ndarray | pd.DataFrame, budget_ms: float | None) -> Any:
        """SHAP values of ``rows`` (``loopml.models.explain.Explanation``). Blocking: the
        server calls it in a worker thread. The explainer is built on the first call (reads
        the background sample; imports shap) and then reused; one explanation runs at a
        time per model, so explanations never crowd out the predict thread's cores."""
        from loopml.models.explain import Explainer

        with self._explain_lock:
            if self._explainer is None:
                try:
                    self._explainer = Explainer(self.base)
                except LoopmlError:
                    raise
                except Exception as e:  # shap refuses this kind of model
                    raise BadInput(f"Model {self.name!r} cannot be explained: "
                                   f"{type(e).__name__}: {e}") from None
            return self._explainer.explain(rows, budget_ms)

    def metadata(self) -> dict[str, Any]:
        spec = self.spec
        if spec.tabular:
            inputs = [{"name": n, "datatype": t, "shape": [-1]}
                      for n, t in zip(spec.names, spec.v2_types, strict=True)]
        else:
            inputs = [{"name": spec.names[0], "datatype": v2_datatype(np.zeros(1, spec.dtype)),
                       "shape": [-1, spec.width or -1]}]
        return {"name": self.name, "versions": [self.version], "platform": self.platform,
                "inputs": inputs, "outputs": [
                    {"name": n, "datatype": o.datatype, "shape": o.shape}
                    for n, o in self.outputs.items()]}


@dataclass(frozen=True)
class OutputSpec:
    """One V2 output: its datatype (what infer returns, ``cast`` makes sure) and shape."""

    datatype: str
    shape: list[int]

    def cast(self, arr: np.ndarray) -> np.ndarray:
        if self.datatype == "BYTES":
            return arr
        dtype = np.dtype(V2_TO_NUMPY[self.datatype])
        return arr if arr.dtype == dtype else arr.astype(dtype)


def _outputs(model: Model) -> dict[str, OutputSpec]:
    """The outputs a model offers, with their true datatypes: a classifier's ``predict``
    has the type of its classes (INT64 for integer labels), ``predict_proba`` one FP64
    (FP32 under ONNX Runtime) column per class; a regressor's ``predict`` is FP64."""
    native = model.native
    if model.flavor.name == "onnx":
        return _onnx_outputs(native)
    classes = getattr(native, "classes_", None)
    if classes is None:
        return {"predict": OutputSpec("FP64", [-1])}
    outs = {"predict": OutputSpec(v2_datatype(np.asarray(classes)), [-1])}
    if hasattr(native, "predict_proba"):
        outs["predict_proba"] = OutputSpec("FP64", [-1, len(classes)])
    return outs


_ONNX_V2 = {"tensor(int64)": "INT64", "tensor(int32)": "INT32", "tensor(float)": "FP32",
            "tensor(double)": "FP64", "tensor(string)": "BYTES", "tensor(bool)": "BOOL"}


def _onnx_outputs(session: Any) -> dict[str, OutputSpec]:
    """ONNX graphs: the first output is ``predict``, a second (skl2onnx's probabilities,
    ZipMap or tensor) ``predict_proba``."""
    outs = list(getattr(session, "session", session).get_outputs())
    specs = {"predict": OutputSpec(_ONNX_V2.get(outs[0].type, "FP32"), [-1])}
    if len(outs) > 1:
        specs["predict_proba"] = OutputSpec(_ONNX_V2.get(outs[1].type, "FP32"), [-1, -1])
    return specs


def _as_text(name: str, values: np.ndarray) -> np.ndarray:
    """V2 BYTES tensors carry UTF-8 text for string columns (binary encoding gives bytes)."""
    try:
        return np.asarray([v.decode() if isinstance(v, bytes) else v for v in values],
                          dtype=object)
    except UnicodeDecodeError:
        raise BadInput(f"Input {name!r}: BYTES values must be UTF-8 text for this string "
                       "column.") from None


def limit_threads() -> None:
    """One inference thread per process: requests are batched, and on few cores OpenMP's
    thread team costs more than it buys for small batches."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def limit_native_threads() -> None:
    """The predict thread's own OpenMP/BLAS limit (OMP_NUM_THREADS, default 1), set in that
    thread: OpenMP's thread count is per thread, and a library loaded before
    ``limit_threads`` ran (or a test process) would otherwise use every core. Measured on
    2 busy cores: a 1-row HistGradientBoosting predict took 30 ms with 2 OpenMP threads
    and 1.1 ms with one (the team spin-waits for a core)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
