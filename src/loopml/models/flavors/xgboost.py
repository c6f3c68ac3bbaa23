"""XGBoost: native UBJSON (``model.ubj``) and JSON; a pickled model only when trusted.

MLflow imports whatever class MLmodel names; here the class must be one of xgboost's own.
Untrusted, only a file that starts like JSON or UBJSON (``{``) reaches XGBoost's parser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loopml.errors import InvalidParameterValue
from loopml.models._integrity import looks_like_pickle, refuse_untrusted
from loopml.models.flavors.base import Flavor, class_path, data_file, version_of

_CLASSES = {
    "xgboost.core.Booster": ("xgboost", "Booster"),
    "xgboost.sklearn.XGBClassifier": ("xgboost", "XGBClassifier"),
    "xgboost.sklearn.XGBRegressor": ("xgboost", "XGBRegressor"),
    "xgboost.sklearn.XGBRanker": ("xgboost", "XGBRanker"),
}


class XGBoostFlavor(Flavor):
    name = "xgboost"
    packages = ("xgboost",)

    def handles(self, model: Any) -> bool:
        return class_path(model) in _CLASSES

    def save(self, model: Any, folder: Path, **options: Any) -> dict[str, Any]:
        fmt = options.get("model_format", "ubj")
        model.save_model(str(folder / f"model.{fmt}"))
        return {"data": f"model.{fmt}", "model_class": class_path(model), "model_format": fmt,
                "xgb_version": version_of("xgboost") or version_of("xgboost-cpu")}

    def load(self, folder: Path, conf: dict[str, Any], trust: bool) -> Any:
        import importlib

        path = data_file(folder, conf, "data", "model.xgb")
        if looks_like_pickle(path):
            if not trust:
                raise refuse_untrusted(path, "it is a pickled XGBoost model")
            from loopml.models.flavors.sklearn import load_pickle

            return load_pickle(path)
        with open(path, "rb") as fh:
            head = fh.read(1)
        if head != b"{" and not trust:
            raise InvalidParameterValue(
                f"{path.name} is neither an XGBoost JSON nor a UBJSON model; re-save it with "
                "save_model('model.ubj').")
        cls_name = conf.get("model_class", "xgboost.core.Booster")
        if cls_name not in _CLASSES:
            raise InvalidParameterValue(
                f"MLmodel names model_class {cls_name!r}; loopml only instantiates xgboost's "
                f"own classes {sorted(_CLASSES)}.")
        module, attr = _CLASSES[cls_name]
        model = getattr(importlib.import_module(module), attr)()
        try:
            model.load_model(str(path))
        except Exception as e:
            raise InvalidParameterValue(f"{path.name} is not an XGBoost model file: {e}") from None
        return model

    def predict(self, native: Any, data: Any) -> Any:
        import xgboost as xgb

        if isinstance(native, xgb.Booster):
            return native.predict(xgb.DMatrix(data))
        return native.predict(data)
