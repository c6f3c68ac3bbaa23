"""LightGBM autologging (``lightgbm.train`` and the scikit-learn API), as ``mlflow.lightgbm.autolog``."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from loopml.tracking.autolog._gbm import Library, fit_wrapper, log_importances, train_wrapper
from loopml.tracking.autolog._patch import Patches
from loopml.tracking.autolog._session import Options, Session


def install(patches: Patches, options: Options) -> None:
    patches.after_import("lightgbm", lambda module: _patch(patches, options, module))


def _patch(patches: Patches, options: Options, lgb: ModuleType) -> None:
    import lightgbm.engine
    import lightgbm.sklearn

    for owner in (lgb, lightgbm.engine, lightgbm.sklearn):  # sklearn.py imported train by name
        patches.wrap(owner, "train", lambda fn: train_wrapper(fn, LIBRARY, options))
    for cls in (lightgbm.sklearn.LGBMModel, lightgbm.sklearn.LGBMClassifier,
                lightgbm.sklearn.LGBMRegressor, lightgbm.sklearn.LGBMRanker):
        patches.wrap(cls, "fit", lambda fn: fit_wrapper(fn, LIBRARY, options))


def _callback(s: Session) -> Any:
    def record(env: Any) -> None:
        metrics = {f"{data}-{name}": value for data, name, value, *_ in env.evaluation_result_list or []}
        s.log_metrics(metrics, step=env.iteration)

    record.order = 100  # type: ignore[attr-defined]  # after LightGBM's own callbacks
    return record


def _params(call: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(call.get("params") or {})
    for key in ("num_boost_round", "feature_name", "categorical_feature", "keep_training_booster"):
        if key in call:
            out[key] = call[key]
    return out


def _data(call: Mapping[str, Any]) -> Any:
    return getattr(call.get("train_set"), "data", None)


def _after(s: Session, booster: Any) -> None:
    if getattr(booster, "best_iteration", 0):
        s.log_metrics({"best_iteration": booster.best_iteration})
    s.log_metrics({"stopped_iteration": booster.current_iteration()})
    log_importances(s, booster.feature_name(), {
        kind: booster.feature_importance(importance_type=kind).tolist() for kind in ("split", "gain")})


LIBRARY = Library("lightgbm", "callbacks", _callback, _params, _data, _after)
