"""scikit-learn autologging: every estimator's ``fit`` (and ``fit_transform``/``fit_predict``).

Logged per outermost fit, with MLflow's names (``mlflow.sklearn.autolog``) so runs compare:
params ``get_params(deep=True)`` (search estimators add ``best_<param>`` and the metric
``best_cv_score``); tags ``estimator_name`` and ``estimator_class``; training metrics
``training_accuracy_score``, ``training_precision_score``, ``training_recall_score``,
``training_f1_score`` (weighted averages), ``training_log_loss`` and ``training_roc_auc``
(weighted, one-vs-one) when the model has ``predict_proba``; for regressors
``training_mean_squared_error``, ``training_root_mean_squared_error``,
``training_mean_absolute_error`` and ``training_r2_score``; ``training_score`` (the estimator's
own ``score``); the artifacts ``estimator.html`` and, for classifiers,
``training_confusion_matrix.svg`` (+ ``training_roc_curve.svg`` and
``training_precision_recall_curve.svg`` with probabilities) — SVG where MLflow writes PNG
through matplotlib; the training data as a dataset input (context ``train``); and the model at
``model/`` with signature and input example.
"""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any

from loopml.tracking.autolog._patch import Patches, current_session
from loopml.tracking.autolog._session import Options, Session, run_session

FIT_METHODS = ("fit", "fit_transform", "fit_predict")


def install(patches: Patches, options: Options) -> None:
    """Patch scikit-learn now, or as soon as it is imported."""
    patches.after_import("sklearn", lambda module: patch_sklearn(patches, options, module))


def patch_sklearn(patches: Patches, options: Options, _module: ModuleType | None = None) -> None:
    from sklearn.utils import all_estimators

    for _name, cls in all_estimators():
        patch_estimator_class(patches, options, cls)


def patch_estimator_class(patches: Patches, options: Options, cls: type) -> None:
    """Patch the class that defines each fit method of ``cls`` (once per defining class)."""
    for method in FIT_METHODS:
        owner = next((k for k in cls.__mro__ if method in vars(k)), None)
        if owner is not None and owner is not object:
            patches.wrap(owner, method, lambda fn: _fit_wrapper(fn, options))


def _fit_wrapper(fn: Any, options: Options) -> Any:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if current_session() is not None:  # a step of an outer fit: logged by the outer one
            return fn(self, *args, **kwargs)
        return run_session(options, "sklearn", lambda s: _logged_fit(s, fn, self, args, kwargs))

    return wrapper


def fit_inputs(fn: Any, est: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, Any]:
    """``(X, y, sample_weight)`` of a fit call, by the method's own signature."""
    try:
        bound = inspect.signature(fn).bind(est, *args, **kwargs).arguments
    except TypeError:
        return (args[0] if args else None), (args[1] if len(args) > 1 else None), None
    names = list(bound)
    x = bound.get("X", bound.get(names[1]) if len(names) > 1 else None)
    y = bound.get("y", bound.get("Y"))
    return x, y, bound.get("sample_weight")


def _logged_fit(s: Session, fn: Any, est: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    x, y, weight = fit_inputs(fn, est, args, kwargs)
    s.log_params(est.get_params(deep=True))
    cls = type(est)
    s.set_tags({"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__qualname__}"})
    result = fn(est, *args, **kwargs)
    s.log_dataset(x)
    s.guard(lambda: _log_search(s, est))
    if y is not None:
        s.guard(lambda: _log_training_metrics(s, est, x, y, weight))
    s.guard(lambda: _log_html(s, est))
    if hasattr(est, "predict"):
        s.log_model(est, x)
    return result


def _log_search(s: Session, est: Any) -> None:
    best = getattr(est, "best_params_", None)
    if isinstance(best, dict):
        s.log_params({f"best_{k}": v for k, v in best.items()})
    if hasattr(est, "best_score_"):
        s.log_metrics({"best_cv_score": est.best_score_})


def _log_html(s: Session, est: Any) -> None:
    from sklearn.utils import estimator_html_repr

    s.log_text(estimator_html_repr(est), "estimator.html")


def _log_training_metrics(s: Session, est: Any, x: Any, y: Any, weight: Any) -> None:
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(est):
        s.log_metrics(classifier_metrics(est, x, y, weight))
        s.guard(lambda: _log_classifier_plots(s, est, x, y))
    elif is_regressor(est):
        s.log_metrics(regressor_metrics(est, x, y, weight))
    if hasattr(est, "score"):
        score = s.guard(lambda: est.score(x, y) if weight is None else est.score(x, y, sample_weight=weight))
        if score is not None:
            s.log_metrics({"training_score": score})


def classifier_metrics(est: Any, x: Any, y: Any, weight: Any) -> dict[str, float]:
    """MLflow's training metrics of a classifier (mlflow/sklearn/utils.py)."""
    import numpy as np
    from sklearn import metrics as skm

    pred = est.predict(x)
    kw = {"average": "weighted", "sample_weight": weight, "zero_division": 0}
    out = {"training_precision_score": skm.precision_score(y, pred, **kw),
           "training_recall_score": skm.recall_score(y, pred, **kw),
           "training_f1_score": skm.f1_score(y, pred, **kw),
           "training_accuracy_score": skm.accuracy_score(y, pred, sample_weight=weight)}
    if hasattr(est, "predict_proba"):
        proba = np.asarray(est.predict_proba(x))
        out["training_log_loss"] = skm.log_loss(y, proba, sample_weight=weight, labels=est.classes_)
        score = proba[:, 1] if proba.shape[1] == 2 else proba
        out["training_roc_auc"] = skm.roc_auc_score(y, score, average="weighted", multi_class="ovo",
                                                    sample_weight=weight, labels=est.classes_
                                                    if proba.shape[1] > 2 else None)
    return {k: float(v) for k, v in out.items()}


def regressor_metrics(est: Any, x: Any, y: Any, weight: Any) -> dict[str, float]:
    """MLflow's training metrics of a regressor (mlflow/sklearn/utils.py)."""
    import numpy as np
    from sklearn import metrics as skm

    pred = est.predict(x)
    mse = float(skm.mean_squared_error(y, pred, sample_weight=weight))
    return {"training_mean_squared_error": mse, "training_root_mean_squared_error": float(np.sqrt(mse)),
            "training_mean_absolute_error": float(skm.mean_absolute_error(y, pred, sample_weight=weight)),
            "training_r2_score": float(skm.r2_score(y, pred, sample_weight=weight))}


def _log_classifier_plots(s: Session, est: Any, x: Any, y: Any) -> None:
    import numpy as np

    from loopml.tracking._evaluate import _classifier

    _metrics, plots = _classifier(est, x, np.asarray(y))
    names = {"confusion_matrix": "training_confusion_matrix.svg",
             "roc_curve_plot": "training_roc_curve.svg",
             "precision_recall_curve_plot": "training_precision_recall_curve.svg"}
    for key, artifact in names.items():
        if key in plots:
            s.log_text(plots[key], artifact)
