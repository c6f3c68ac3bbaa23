"""XGBoost autologging (``xgboost.train`` and the scikit-learn API), as ``mlflow.xgboost.autolog``."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from loopml.tracking.autolog._gbm import Library, fit_wrapper, log_importances, train_wrapper
from loopml.tracking.autolog._patch import Patches
from loopml.tracking.autolog._session import Options, Session


def install(patches: Patches, options: Options) -> None:
    patches.after_import("xgboost", lambda module: _patch(patches, options, module))


def _patch(patches: Patches, options: Options, xgb: ModuleType) -> None:
    import xgboost.sklearn
    import xgboost.training

    for owner in (xgb, xgboost.training, xgboost.sklearn):  # sklearn.py imported train by name
        patches.wrap(owner, "train", lambda fn: train_wrapper(fn, LIBRARY, options))
    for name in ("XGBModel", "XGBClassifier", "XGBRegressor", "XGBRanker",
                 "XGBRFClassifier", "XGBRFRegressor"):
        cls = getattr(xgboost.sklearn, name, None)
        if cls is not None:
            patches.wrap(cls, "fit", lambda fn: fit_wrapper(fn, LIBRARY, options))


def _callback(s: Session) -> Any:
    from xgboost.callback import TrainingCallback

    class Record(TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            s.log_metrics({f"{data}-{metric}": values[-1]
                           for data, by_metric in evals_log.items()
                           for metric, values in by_metric.items() if values}, step=epoch)
            return False  # never asks XGBoost to stop

    return Record()


def _params(call: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(call.get("params") or {})
    for key in ("num_boost_round", "early_stopping_rounds", "maximize", "verbose_eval"):
        if key in call:
            out[key] = call[key]
    return out


def _data(call: Mapping[str, Any]) -> Any:
    return None  # a DMatrix does not give its rows back


def _after(s: Session, booster: Any) -> None:
    best = booster.attributes().get("best_iteration")
    if best is not None:
        s.log_metrics({"best_iteration": int(best)})
    s.log_metrics({"stopped_iteration": booster.num_boosted_rounds() - 1})
    names = booster.feature_names or [f"f{i}" for i in range(booster.num_features())]
    scores = {kind: booster.get_score(importance_type=kind) for kind in ("weight", "gain")}
    log_importances(s, names, {k: [v.get(n, 0.0) for n in names] for k, v in scores.items()})


LIBRARY = Library("xgboost", "callbacks", _callback, _params, _data, _after)
