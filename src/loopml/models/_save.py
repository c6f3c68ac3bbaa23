"""``save_model``: a native model -> an MLflow-format model folder, written atomically."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from loopml.errors import InvalidParameterValue, ResourceAlreadyExists
from loopml.models._env import write_environment
from loopml.models._integrity import compute_digests
from loopml.models._mlmodel import MLModel
from loopml.models.flavors import flavor_for, get_flavor
from loopml.models.flavors.pyfunc import NAME as PYFUNC
from loopml.models.signature import ModelSignature, infer_signature

# The MLflow loader module that reads each flavor's files through mlflow.pyfunc.
_MLFLOW_LOADERS = {"sklearn": "mlflow.sklearn", "lightgbm": "mlflow.lightgbm",
                   "xgboost": "mlflow.xgboost", "pytorch": "mlflow.pytorch",
                   "onnx": "mlflow.onnx"}
_MLFLOW_DATA_KEY = {"sklearn": "pickled_model", "lightgbm": "data", "xgboost": "data",
                    "pytorch": "model_data", "onnx": "data"}


def _write_example(folder: Path, example: Any) -> dict[str, Any]:
    if isinstance(example, pd.DataFrame):
        body = orjson.loads(example.to_json(orient="split", index=False))
        (folder / "input_example.json").write_bytes(orjson.dumps(body))
        return {"artifact_path": "input_example.json", "type": "dataframe",
                "pandas_orient": "split"}
    arr = np.asarray(example)
    (folder / "input_example.json").write_bytes(
        orjson.dumps({"inputs": arr.tolist()}, option=orjson.OPT_SERIALIZE_NUMPY))
    return {"artifact_path": "input_example.json", "type": "ndarray", "format": "tf-serving"}


def save_model(
    model: Any,
    path: str | Path,
    *,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    flavor: str | None = None,
    serialization_format: str | None = None,
    extra_requirements: list[str] | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    background: Any = None,
) -> MLModel:
    """Save ``model`` as an MLflow model folder at ``path`` (which must not exist yet).

    The signature is inferred from ``input_example`` (and the model's predictions on it) when
    not given. ``background`` (a sample of the training data, DataFrame or 2-D array) is
    kept for SHAP explanations (at most 100 rows, ``explain/background.json``); for a tree
    model its global importance is computed then too (``explain/importance.json``; see
    ``loopml.models.explain``). Files appear all at once: they are written to a sibling
    temp folder first.
    """
    dest = Path(path)
    if dest.exists() and any(dest.iterdir()):
        raise ResourceAlreadyExists(f"{dest} already exists and is not empty; pick a new path.")
    fl = get_flavor(flavor) if flavor else flavor_for(model)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".saving-", dir=dest.parent))
    try:
        options: dict[str, Any] = {"input_example": input_example}
        if serialization_format:
            options["serialization_format"] = serialization_format
        conf = fl.save(model, tmp, **options)
        meta = MLModel(run_id=run_id, artifact_path=artifact_path)
        meta.flavors[fl.name] = conf
        if input_example is not None:
            meta.saved_input_example_info = _write_example(tmp, input_example)
            if signature is None:
                try:
                    out = model.predict(input_example)
                except Exception:
                    out = None
                signature = infer_signature(input_example, out)
        if signature is not None:
            meta.signature = signature.to_dict()
        if background is not None:
            from loopml.models.explain import write_background, write_importance

            write_importance(tmp, model, write_background(tmp, background))
        write_environment(tmp, fl.packages, extra_requirements or [])
        if fl.name != PYFUNC:
            meta.flavors[PYFUNC] = {
                "loader_module": _MLFLOW_LOADERS[fl.name],
                "data" if fl.name != "sklearn" else "model_path":
                    conf.get(_MLFLOW_DATA_KEY[fl.name]),
                "predict_fn": "predict",
                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                "python_version": _python_version(),
            }
        else:
            conf.update({"env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                         "python_version": _python_version()})
        meta.file_digests = compute_digests(tmp)
        meta.save(tmp)
        if dest.exists():
            dest.rmdir()
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def _python_version() -> str:
    import platform

    return platform.python_version()


def check_model_name(name: str) -> str:
    if not name or "/" in name.strip("/") or name in (".", ".."):
        raise InvalidParameterValue(
            f"Model name {name!r} must be a single path segment such as 'model'.")
    return name
