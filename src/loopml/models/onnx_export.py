"""``to_onnx``: add an ONNX flavor to a model, after checking it predicts what the native
model predicts.

Converters: skl2onnx (scikit-learn estimators and pipelines), onnxmltools (LightGBM,
XGBoost), torch.onnx (PyTorch). Parity runs both models on sample rows (the saved input
example, or rows the caller passes) and compares labels exactly and scores within
tolerances. Only a model that passes gets the flavor; the parity record is written to MLmodel
under ``loopml_onnx`` either way.

An unsupported model is not an error: ``to_onnx`` returns a result with ``converted=False``
and a reason, and the model keeps serving natively.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.errors import InvalidParameterValue
from loopml.models._integrity import compute_digests
from loopml.models._load import Model, load_folder
from loopml.models._mlmodel import MLModel
from loopml.models.flavors.base import version_of
from loopml.models.flavors.onnx import OnnxSession
from loopml.models.uris import resolve

DEFAULT_RTOL = 1e-4
DEFAULT_ATOL = 1e-4  # float32 inside ONNX vs float64 natively


@dataclass
class OnnxResult:
    converted: bool
    reason: str = ""
    converter: str = ""
    rows: int = 0
    label_agreement: float | None = None
    max_abs_diff: float | None = None
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    stored_at: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Unsupported(Exception):
    pass


def _sample_rows(model: Model, sample: Any) -> tuple[Any, np.ndarray]:
    """(rows as the native model takes them, the same rows as float32 for ONNX)."""
    if sample is None:
        info = model.meta.saved_input_example_info or {}
        path = model.folder / str(info.get("artifact_path", "input_example.json"))
        if not path.is_file():
            raise InvalidParameterValue(
                "Parity needs sample rows: the model has no saved input example. Pass "
                "sample=<rows> (CLI: --sample data.csv).")
        raw = json.loads(path.read_text())
        if info.get("type") == "dataframe":
            sample = pd.DataFrame(raw["data"], columns=raw["columns"])
        else:
            sample = np.asarray(raw["inputs"] if isinstance(raw, dict) else raw)
    prepared = model.prepare(sample)
    arr = prepared.to_numpy() if hasattr(prepared, "to_numpy") else np.asarray(prepared)
    if arr.dtype.kind not in "biuf":
        raise _Unsupported(
            "its inputs are not all numeric; the exporter handles numeric feature matrices")
    return prepared, arr.astype(np.float32)


def _convert(model: Model, x: np.ndarray) -> tuple[Any, str]:
    name, native = model.flavor.name, model.native
    n_features = x.shape[1]
    if name == "sklearn":
        import skl2onnx
        from skl2onnx.common.data_types import FloatTensorType

        options = {id(native): {"zipmap": False}} if hasattr(native, "predict_proba") else None
        try:
            onx = skl2onnx.convert_sklearn(
                native, initial_types=[("input", FloatTensorType([None, n_features]))],
                options=options)
        except Exception as e:
            raise _Unsupported(f"skl2onnx cannot convert it: {e}") from None
        return onx, f"skl2onnx {version_of('skl2onnx')}"
    if name in ("lightgbm", "xgboost"):
        try:
            import onnxmltools
            from onnxmltools.convert.common.data_types import FloatTensorType as MLFloat
        except ImportError:
            raise _Unsupported("onnxmltools is not installed (pip install loopml[gbm])") from None
        types = [("input", MLFloat([None, n_features]))]
        try:
            if name == "lightgbm":
                booster = getattr(native, "booster", native)
                onx = onnxmltools.convert_lightgbm(booster, initial_types=types, zipmap=False)
            else:
                onx = onnxmltools.convert_xgboost(_plain_xgb(native), initial_types=types)
        except Exception as e:
            raise _Unsupported(f"onnxmltools cannot convert it: {e}") from None
        return onx, f"onnxmltools {version_of('onnxmltools')}"
    if name == "pytorch":
        import io

        import torch

        buf = io.BytesIO()
        try:
            torch.onnx.export(native.module, (torch.as_tensor(x[:1]),), buf,  # type: ignore[arg-type]
                              input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                              dynamo=False)
        except Exception as e:
            raise _Unsupported(f"torch.onnx cannot export it: {e}") from None
        import onnx

        return onnx.load_from_string(buf.getvalue()), f"torch.onnx {version_of('torch')}"
    raise _Unsupported(f"there is no ONNX converter for the {name!r} flavor")


def _plain_xgb(native: Any) -> Any:
    """onnxmltools wants features named f0..fN; DataFrame-trained models carry real names."""
    clone = type(native)()
    booster = native.get_booster().copy()
    booster.feature_names = None
    clone._Booster = booster
    clone.set_params(**native.get_params())
    clone._Booster = booster
    if hasattr(native, "n_classes_"):
        clone.n_classes_ = native.n_classes_  # classes_ is derived from it
    return clone


def _parity(model: Model, session: OnnxSession, x_native: Any, x: np.ndarray,
            result: OnnxResult) -> None:
    """Native model on the rows as sent vs ONNX on their float32 cast: what serving with
    ONNX Runtime would change for a caller."""
    native_out = np.asarray(model.flavor.predict(model.native, x_native))
    onnx_out = np.asarray(session.predict(x))
    result.rows = len(x)
    is_labels = native_out.dtype.kind in "iuOUb" and hasattr(model.native, "predict_proba")
    if is_labels:
        result.label_agreement = float(np.mean(native_out.ravel() == onnx_out.ravel()))
        try:
            p_native = np.asarray(model.flavor.predict_proba(model.native, x_native),
                                  dtype=np.float64)
            p_onnx = np.asarray(session.predict_proba(x), dtype=np.float64)
            result.max_abs_diff = float(np.max(np.abs(p_native - p_onnx)))
        except InvalidParameterValue:
            result.max_abs_diff = 0.0
        ok = result.label_agreement == 1.0 and result.max_abs_diff <= result.atol + \
            result.rtol
    else:
        a = native_out.astype(np.float64).reshape(len(x), -1)
        b = onnx_out.astype(np.float64).reshape(len(x), -1)
        if a.shape != b.shape:
            raise _Unsupported(f"output shapes differ: native {a.shape}, onnx {b.shape}")
        result.max_abs_diff = float(np.max(np.abs(a - b)))
        ok = bool(np.allclose(a, b, rtol=result.rtol, atol=result.atol))
    if not ok:
        raise _Unsupported(
            f"parity failed on {len(x)} rows (label agreement {result.label_agreement}, "
            f"max abs diff {result.max_abs_diff:.3g}, rtol {result.rtol}, atol {result.atol})")


def export_folder(folder: Path, *, trust: bool = False, sample: Any = None,
                  rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL) -> OnnxResult:
    """Convert the model in ``folder`` and, when parity holds, add the flavor in place."""
    result = OnnxResult(False, rtol=rtol, atol=atol)
    model = load_folder(folder, trust=trust)
    try:
        x_native, x = _sample_rows(model, sample)
        onx, result.converter = _convert(model, x)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            path.write_bytes(onx.SerializeToString())
            _parity(model, OnnxSession(path), x_native, x, result)
            shutil.copyfile(path, folder / "model.onnx")
        result.converted = True
    except _Unsupported as e:
        result.reason = f"Not converted to ONNX: {e}. The model keeps its native flavor."
    meta = MLModel.load(folder)
    if result.converted:
        meta.flavors["onnx"] = {"onnx_version": version_of("onnx"), "data": "model.onnx",
                                "providers": ["CPUExecutionProvider"],
                                "onnx_session_options": None}
        meta.file_digests = compute_digests(folder)
    meta.onnx_parity = {k: v for k, v in result.to_dict().items() if k != "stored_at"}
    meta.save(folder)
    return result


def to_onnx(model_uri: str, *, trust: bool = False, sample: Any = None,
            rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL) -> OnnxResult:
    """Export the model at ``model_uri`` to ONNX and store it as an extra flavor of the same
    model (local folder: in place; run or registry URI: uploaded next to the model files)."""
    from loopml.models.uris import _default_client

    resolved = resolve(model_uri)
    local = not model_uri.startswith(("models:/", "runs:/"))
    folder = resolved.folder if local else Path(tempfile.mkdtemp(prefix="loopml-onnx-"))
    if not local:
        shutil.copytree(resolved.folder, folder, dirs_exist_ok=True)
    result = export_folder(folder, trust=trust or resolved.trusted, sample=sample,
                           rtol=rtol, atol=atol)
    if local:
        result.stored_at = str(folder)
        return result
    location = _storage_location(model_uri)
    blobs = _default_client().artifact_store(location)
    if result.converted:
        blobs.put_file("model.onnx", folder / "model.onnx")
    blobs.put_file("MLmodel", folder / "MLmodel")
    result.stored_at = location
    return result


def _storage_location(model_uri: str) -> str:
    from loopml.models.uris import _default_client, _registry, resolve_version

    client = _default_client()
    if model_uri.startswith("runs:/"):
        from loopml.registry.sources import resolve_source

        return resolve_source(model_uri, None, client.store, _registry(client), []).storage_location
    mv = resolve_version(model_uri, client)
    if mv is None:
        from loopml.models.uris import parse_models_uri

        return client.store.get_logged_model(parse_models_uri(model_uri)[0]).artifact_location
    return mv.storage_location
