"""``loopml.evaluate``: score a model on labelled data, log the metrics and diagnostic plots
to the active run (like ``mlflow.evaluate`` / ``mlflow.models.evaluate`` for the
"classifier" and "regressor" model types), and return them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loopml.errors import InvalidParameterValue

MODEL_TYPES = ("classifier", "regressor")


@dataclass
class EvaluationResult:
    """``metrics``: name -> value (also logged as run metrics); ``artifacts``: plot name ->
    run-relative artifact path (SVG files); ``run_id``: the run they were logged to."""

    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    run_id: str = ""


def _split(data: Any, targets: Any) -> tuple[Any, Any]:
    """(features, labels): ``targets`` is a column of the DataFrame ``data`` (dropped from
    the features), or labels of the same length as ``data``."""
    import numpy as np
    import pandas as pd

    if isinstance(targets, str):
        if not isinstance(data, pd.DataFrame):
            raise InvalidParameterValue(
                f"targets={targets!r} names a column, so data must be a pandas DataFrame. "
                "Pass the labels themselves as targets for array data.")
        if targets not in data.columns:
            raise InvalidParameterValue(
                f"targets={targets!r} is not a column of data; columns: {list(map(str, data.columns))}.")
        return data.drop(columns=[targets]), data[targets].to_numpy()
    y = np.asarray(targets)
    if y.ndim != 1 or len(y) != len(data):
        raise InvalidParameterValue(
            f"targets must be a 1-d sequence with one label per row of data ({len(data)} rows); "
            f"got shape {y.shape}.")
    return data, y


def _predict(model: Any, x: Any) -> Any:
    import numpy as np

    predict = getattr(model, "predict", None)
    if not callable(predict):
        raise InvalidParameterValue(
            f"evaluate needs a model with a predict method (a scikit-learn estimator, a loaded "
            f"loopml model); got {type(model).__name__}.")
    return np.asarray(predict(x))


def _probabilities(model: Any, x: Any) -> Any:
    """Class probabilities (n, k) when the model has ``predict_proba``, else None."""
    import numpy as np

    fn = getattr(model, "predict_proba", None)
    if not callable(fn):
        return None
    try:
        p = np.asarray(fn(x), dtype=float)
    except InvalidParameterValue:  # a loaded loopml model whose flavor gives no probabilities
        return None
    return p if p.ndim == 2 else None


def _classes(model: Any, labels: Any) -> Any:
    """The column order of ``predict_proba``: the estimator's ``classes_`` (also behind a
    loaded loopml model's ``native``), else the sorted labels seen."""
    import numpy as np

    found = getattr(model, "classes_", None)
    if found is None:
        found = getattr(getattr(model, "native", None), "classes_", None)
    return np.asarray(found if found is not None else labels)


def _resolve(model: Any) -> Any:
    """A model URI (``runs:/<id>/model``, ``models:/name@alias``, a folder) is loaded with
    ``loopml.models.load`` (its trust rules apply); anything else is used as given."""
    if isinstance(model, str):
        from loopml.models import load

        return load(model)
    return model


def _classifier(model: Any, x: Any, y: Any) -> tuple[dict[str, float], dict[str, str]]:
    """Metrics and SVG texts for a classifier (binary or multiclass, one-vs-rest curves)."""
    import numpy as np
    from sklearn import metrics as skm

    from loopml.tracking._eval_plots import confusion_svg, curves_svg

    pred = _predict(model, x)
    labels = np.unique(np.concatenate([y, pred]))
    binary = len(labels) <= 2
    avg = "binary" if binary and len(labels) == 2 else "weighted"
    pos = labels[-1]
    kw: dict[str, Any] = {"average": avg, "zero_division": 0}
    if avg == "binary":
        kw["pos_label"] = pos
    out = {"accuracy": skm.accuracy_score(y, pred), "f1": skm.f1_score(y, pred, **kw),
           "precision": skm.precision_score(y, pred, **kw), "recall": skm.recall_score(y, pred, **kw)}
    plots = {"confusion_matrix": confusion_svg(skm.confusion_matrix(y, pred, labels=labels).tolist(),
                                               [str(v) for v in labels])}
    proba = _probabilities(model, x)
    classes = _classes(model, labels)
    if proba is None or proba.shape[1] != len(classes) or len(np.unique(y)) < 2:
        return {k: float(v) for k, v in out.items()}, plots  # no scores: no curves (as MLflow)
    out["log_loss"] = skm.log_loss(y, proba, labels=classes)
    shown = classes[1:] if len(classes) == 2 else classes
    cols = [list(classes).index(c) for c in shown]
    if len(classes) == 2:
        out["roc_auc"] = skm.roc_auc_score(y == classes[1], proba[:, 1])
    else:
        out["roc_auc"] = skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes)
    roc, pr, cal = [], [], []
    for c, j in zip(shown, cols, strict=True):
        truth, score = (y == c).astype(int), proba[:, j]
        if truth.min() == truth.max():
            continue
        fpr, tpr, _ = skm.roc_curve(truth, score)
        roc.append((f"{c} (AUC {skm.auc(fpr, tpr):.3f})", fpr, tpr))
        prec, rec, _ = skm.precision_recall_curve(truth, score)
        pr.append((f"{c} (AP {skm.average_precision_score(truth, score):.3f})", rec, prec))
        from sklearn.calibration import calibration_curve

        frac, mean = calibration_curve(truth, score, n_bins=10, strategy="uniform")
        cal.append((str(c), mean, frac))
    plots["roc_curve_plot"] = curves_svg(roc, "ROC curve", "False positive rate",
                                         "True positive rate", diagonal=True)
    plots["precision_recall_curve_plot"] = curves_svg(pr, "Precision-recall curve", "Recall",
                                                      "Precision")
    plots["calibration_curve_plot"] = curves_svg(cal, "Calibration curve", "Mean predicted probability",
                                                 "Fraction of positives", diagonal=True)
    return {k: float(v) for k, v in out.items()}, plots


def _regressor(model: Any, x: Any, y: Any) -> dict[str, float]:
    import numpy as np
    from sklearn import metrics as skm

    pred = _predict(model, x).astype(float).ravel()
    y = np.asarray(y, dtype=float)
    return {"rmse": float(np.sqrt(skm.mean_squared_error(y, pred))),
            "mae": float(skm.mean_absolute_error(y, pred)), "r2": float(skm.r2_score(y, pred))}


def evaluate(model: Any, data: Any, targets: Any, model_type: str = "classifier",
             prefix: str = "") -> EvaluationResult:
    """Score ``model`` (anything with ``predict``, or a model URI such as ``runs:/<id>/model``;
    ``predict_proba`` adds roc_auc, log_loss and the curves) on ``data`` (DataFrame or array) against ``targets`` (a column name of
    ``data``, or one label per row).

    Classifiers: accuracy, f1, precision, recall (binary, else weighted averages), roc_auc,
    log_loss; plus ``confusion_matrix.svg``, ``roc_curve_plot.svg``,
    ``precision_recall_curve_plot.svg`` and ``calibration_curve_plot.svg`` (one-vs-rest for
    several classes). Regressors: rmse, mae, r2. Metric names get ``prefix`` (e.g. "val_").
    Logs to the active run, or to a new run that ends with the call when none is active.
    Raises InvalidParameterValue for an unknown ``model_type`` or mismatched data."""
    from loopml.tracking import _fluent

    if model_type not in MODEL_TYPES:
        raise InvalidParameterValue(f"model_type must be one of {list(MODEL_TYPES)}; got {model_type!r}.")
    model = _resolve(model)
    x, y = _split(data, targets)
    if len(y) == 0:
        raise InvalidParameterValue("evaluate needs at least one row of data.")
    if model_type == "classifier":
        metrics, plots = _classifier(model, x, y)
    else:
        metrics, plots = _regressor(model, x, y), {}
    metrics = {f"{prefix}{k}": v for k, v in metrics.items()}
    own_run = not _fluent.has_run()
    if own_run:
        _fluent.start_run(run_name="evaluation")
    status = "FAILED"
    try:
        run_id = _fluent.current_run_id()
        _fluent.log_metrics(metrics)
        c = _fluent.client()
        artifacts = {}
        for name, svg in plots.items():
            path = f"{prefix}{name}.svg"
            c.log_text(run_id, svg, path)
            artifacts[name] = path
        c.flush(run_id)
        status = "FINISHED"
    finally:
        if own_run:
            _fluent.end_run(status)
    return EvaluationResult(metrics, artifacts, run_id)
