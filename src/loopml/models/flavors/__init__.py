"""The flavor table: MLmodel flavor name -> "module:Class". A plugin adds a row here.

``SAVE_ORDER`` is the order ``save_model`` asks flavors whether they handle a model: the
specific frameworks first, the generic python_function last.
"""

from __future__ import annotations

import importlib

from loopml.errors import InvalidParameterValue
from loopml.models.flavors.base import Flavor

FLAVORS: dict[str, str] = {
    "sklearn": "loopml.models.flavors.sklearn:SklearnFlavor",
    "lightgbm": "loopml.models.flavors.lightgbm:LightGBMFlavor",
    "xgboost": "loopml.models.flavors.xgboost:XGBoostFlavor",
    "pytorch": "loopml.models.flavors.pytorch:PyTorchFlavor",
    "onnx": "loopml.models.flavors.onnx:OnnxFlavor",
    "python_function": "loopml.models.flavors.pyfunc:PyFuncFlavor",
}
SAVE_ORDER = ("lightgbm", "xgboost", "sklearn", "pytorch", "onnx", "python_function")
# The order load() prefers among the flavors a folder has: native frameworks first.
LOAD_ORDER = ("sklearn", "lightgbm", "xgboost", "pytorch", "onnx", "python_function")
# MLflow's pyfunc loader_module -> the loopml flavor that reads the same files.
LOADER_MODULES = {
    "mlflow.sklearn": "sklearn", "mlflow.lightgbm": "lightgbm", "mlflow.xgboost": "xgboost",
    "mlflow.pytorch": "pytorch", "mlflow.onnx": "onnx", "mlflow.pyfunc.model": "python_function",
}

_cache: dict[str, Flavor] = {}


def get_flavor(name: str) -> Flavor:
    if name not in FLAVORS:
        raise InvalidParameterValue(
            f"Unknown model flavor {name!r}. Known flavors: {sorted(FLAVORS)}.")
    if name not in _cache:
        module, _, cls = FLAVORS[name].partition(":")
        _cache[name] = getattr(importlib.import_module(module), cls)()
    return _cache[name]


def flavor_for(model: object) -> Flavor:
    for name in SAVE_ORDER:
        try:
            flavor = get_flavor(name)
        except ImportError:
            continue
        if flavor.handles(model):
            return flavor
    raise InvalidParameterValue(
        f"No flavor can save a {type(model).__module__}.{type(model).__qualname__}. Supported: "
        "scikit-learn, LightGBM, XGBoost, PyTorch, ONNX, or any object with predict()."
    )


__all__ = ["FLAVORS", "LOADER_MODULES", "LOAD_ORDER", "SAVE_ORDER", "flavor_for", "get_flavor"]
