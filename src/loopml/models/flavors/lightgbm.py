"""LightGBM: the booster's native text format (never a pickle).

For the scikit-learn wrappers (LGBMClassifier/Regressor) the booster text is saved and the
wrapper's few extra fields (class labels, objective) go into MLmodel, so loading needs neither
pickle nor a class name taken from the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from loopml.errors import InvalidParameterValue
from loopml.models._integrity import looks_like_pickle, refuse_untrusted
from loopml.models.flavors.base import Flavor, class_path, data_file, version_of

_CLASSES = {"lightgbm.basic.Booster", "lightgbm.sklearn.LGBMClassifier",
            "lightgbm.sklearn.LGBMRegressor", "lightgbm.sklearn.LGBMRanker"}


class BoosterClassifier:
    """An LGBMClassifier rebuilt from its booster: predict returns class labels."""

    def __init__(self, booster: Any, classes: list[Any]) -> None:
        self.booster = booster
        self.classes_ = np.asarray(classes)

    def predict_proba(self, x: Any) -> np.ndarray:
        p = np.asarray(self.booster.predict(x))
        return np.column_stack([1 - p, p]) if p.ndim == 1 else p

    def predict(self, x: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(x), axis=1)]


class LightGBMFlavor(Flavor):
    name = "lightgbm"
    packages = ("lightgbm",)

    def handles(self, model: Any) -> bool:
        return class_path(model) in _CLASSES

    def save(self, model: Any, folder: Path, **options: Any) -> dict[str, Any]:
        booster = getattr(model, "booster_", model)
        booster.save_model(str(folder / "model.lgb"))
        conf: dict[str, Any] = {"data": "model.lgb", "lgb_version": version_of("lightgbm"),
                                "model_class": "lightgbm.basic.Booster",
                                "loopml_model_class": class_path(model)}
        if hasattr(model, "classes_"):
            conf["loopml_classes"] = np.asarray(model.classes_).tolist()
        return conf

    def load(self, folder: Path, conf: dict[str, Any], trust: bool) -> Any:
        import lightgbm as lgb

        path = data_file(folder, conf, "data", "model.lgb")
        if path.suffix == ".pkl" or looks_like_pickle(path):
            if not trust:
                raise refuse_untrusted(path, "it is a pickled LightGBM model")
            from loopml.models.flavors.sklearn import load_pickle

            return load_pickle(path)
        with open(path, "rb") as fh:
            head = fh.read(8)
        if not head.startswith((b"tree\n", b"tree\r\n")):
            # Only the booster text format reaches LightGBM's parser; a file in any other
            # format (an undetected pickle variant included) is never handed to a loader.
            raise InvalidParameterValue(
                f"{path.name} is not a LightGBM text model (it does not start with 'tree'); "
                "re-save it with Booster.save_model.")
        try:
            booster = lgb.Booster(model_file=str(path))
        except lgb.basic.LightGBMError as e:
            raise InvalidParameterValue(f"{path.name} is not a LightGBM model file: {e}") from None
        if "loopml_classes" in conf:
            return BoosterClassifier(booster, conf["loopml_classes"])
        return booster
