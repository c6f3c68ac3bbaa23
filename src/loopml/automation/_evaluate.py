"""Scores for the gate and the canary: both models on the same holdout, both on recent
labelled traffic (inference log joined with feedback), and per-version live statistics of
canary traffic."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pandas as pd

from loopml.automation.policy import Policy
from loopml.inference_log import features, per_request, read_log
from loopml.monitoring.monitor import _quality
from loopml.store.monitoring_base import MonitoringStore

_QUALITY_KEYS = {"accuracy": "quality.accuracy", "f1": "quality.f1",
                 "roc_auc": "quality.roc_auc", "mae": "quality.mae", "rmse": "quality.rmse"}


def task_of(policy: Policy) -> str:
    return "regression" if policy.evaluate.metric in ("mae", "rmse") else "classification"


def metrics_of(task: str, preds: list[Any], labels: list[Any]) -> dict[str, float]:
    """accuracy/f1[/roc_auc] or mae/rmse, plus ``labels`` (how many were used)."""
    q = _quality(task, preds, labels)
    out = {k: q[v] for k, v in _QUALITY_KEYS.items() if v in q}
    out["labels"] = q["quality.labels"]
    return out


def _predict(model: Any, X: pd.DataFrame, task: str) -> list[Any]:
    """Scores of the positive class when the model has them (so ROC AUC can be computed),
    else its predictions."""
    if task == "classification" and hasattr(model.native, "predict_proba"):
        proba = np.asarray(model.predict_proba(X))
        if proba.ndim == 2 and proba.shape[1] == 2:
            return proba[:, 1].tolist()
    return np.asarray(model.predict(X)).ravel().tolist()


_INT_TYPES = {"integer": "int32", "long": "int64"}


def conform(X: pd.DataFrame, signature: Any) -> pd.DataFrame:
    """``X`` with each column cast to the signature's type where nothing is lost: a float
    column whose values are all whole numbers becomes the signature's integer type (JSON and
    Parquet round trips turn 3 into 3.0). Anything else is left for the model's own check,
    which names the column."""
    from loopml.models.signature import ColSpec

    if signature is None or X.empty:
        return X
    out = X
    for spec in signature.inputs.specs:
        if not isinstance(spec, ColSpec) or spec.name not in X or spec.type not in _INT_TYPES:
            continue
        col = X[spec.name]
        if col.dtype.kind == "f" and col.notna().all() and (col % 1 == 0).all() or col.dtype == object and col.map(lambda v: isinstance(v, int)).all():
            out = out if out is not X else X.copy()
            out[spec.name] = col.astype(_INT_TYPES[spec.type])
    return out


class EvaluationError(ValueError):
    """A model could not be scored on a split; the message names the model version, the
    split and (from the signature check) the column."""


def predictions(model_uri: str, X: pd.DataFrame, task: str, split: str,
                client: Any = None) -> list[Any]:
    """The model's predictions (positive-class scores when it has them) on ``X``, after the
    lossless casts of ``conform``. ``client``: the TrackingClient whose registry
    ``model_uri`` resolves through. Raises ``EvaluationError`` naming the model and split."""
    from loopml.models import load

    model = load(model_uri, client=client)
    try:
        return _predict(model, conform(X, model.signature), task)
    except Exception as e:
        msg = getattr(e, "message", None) or str(e)
        raise EvaluationError(f"{model_uri} on the {split} split ({len(X)} rows): "
                              f"{type(e).__name__}: {msg}") from e


def score(model_uri: str, X: pd.DataFrame, y: list[Any], task: str,
          split: str = "holdout", client: Any = None) -> dict[str, float]:
    return metrics_of(task, predictions(model_uri, X, task, split, client), y)


def paired_delta(task: str, metric: str, challenger: list[Any], champion: list[Any],
                 y: list[Any], confidence: float, sign: float, resamples: int = 200,
                 seed: int = 0) -> tuple[float, float]:
    """A percentile bootstrap interval (lower, upper) of ``sign * (challenger - champion)``
    on ``metric``, resampling the same rows for both models (a paired comparison)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    ch, cp, yy = np.asarray(challenger), np.asarray(champion), np.asarray(y)
    deltas = []
    for _ in range(resamples):
        i = rng.integers(0, n, n)
        a, b = _metric(task, metric, ch[i], yy[i]), _metric(task, metric, cp[i], yy[i])
        if a is not None and b is not None:
            deltas.append(sign * (a - b))
    if not deltas:
        return float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    return float(np.quantile(deltas, alpha)), float(np.quantile(deltas, 1 - alpha))


def _metric(task: str, metric: str, preds: np.ndarray, y: np.ndarray) -> float | None:
    """One metric, as ``metrics_of`` computes it, without the others (the bootstrap calls
    this hundreds of times)."""
    from sklearn import metrics as skm

    if task == "regression":
        err = preds.astype(float) - y.astype(float)
        return float(np.mean(np.abs(err))) if metric == "mae" else float(np.sqrt(np.mean(err**2)))
    scores = preds.dtype.kind == "f" and ((preds >= 0) & (preds <= 1)).all()
    if metric == "roc_auc":
        return float(skm.roc_auc_score(y, preds)) if scores and len(set(y.tolist())) == 2 \
            else None
    hard = (preds >= 0.5).astype(int) if scores else preds
    ys, hs = y.astype(str), np.asarray(hard).astype(str)
    if metric == "accuracy":
        return float(np.mean(ys == hs))
    return _macro_f1(ys, hs)


def _macro_f1(y: np.ndarray, p: np.ndarray) -> float:
    """sklearn's f1_score(average="macro") over the labels of both arrays, in numpy (the
    bootstrap's inner loop; sklearn's argument checks cost more than the arithmetic)."""
    labels, codes = np.unique(np.concatenate([y, p]), return_inverse=True)
    k, n = len(labels), len(y)
    yc, pc = codes[:n], codes[n:]
    tp = np.bincount(yc[yc == pc], minlength=k).astype(float)
    fp = np.bincount(pc, minlength=k) - tp
    fn = np.bincount(yc, minlength=k) - tp
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
    return float(f1.mean())


def holdout(policy: Policy) -> tuple[pd.DataFrame, list[Any]] | None:
    if not policy.evaluate.holdout:
        return None
    frame = pd.read_parquet(policy.evaluate.holdout)
    label = policy.evaluate.label
    if label not in frame:
        raise ValueError(f"holdout {policy.evaluate.holdout} has no label column {label!r}")
    return frame.drop(columns=[label]), frame[label].tolist()


def in_holdout(request_id: str, percent: int) -> bool:
    """Whether a request belongs to the rolling labelled holdout: a stable hash of its id
    puts ``percent`` % of traffic there, kept apart from retraining data."""
    return zlib.crc32(request_id.encode()) % 100 < percent


def recent_labelled(log_dir: str, deployment: str, monitoring: MonitoringStore,
                    since_ms: int, names: list[str] | None = None,
                    last: int | None = None, part: str | None = None,
                    holdout_percent: int = 0) -> tuple[pd.DataFrame, list[Any]]:
    """Requests of the deployment since ``since_ms`` (ms) that have a label, as (features,
    labels), oldest first; with ``last``, only the newest ``last`` labelled rows. With
    ``part`` "holdout" or "train" and ``holdout_percent``, only the requests in (or out
    of) the rolling holdout (``in_holdout``).

    A single-row request's label is one value. A request of n rows is kept when its label is
    a list of n values (one per row); a batched request with one label is left out, since
    the label cannot be matched to a row. Whole-number float columns are left as they are
    here; ``conform`` casts them to a model's signature."""
    rows = read_log(log_dir, deployment, since_ms)
    if rows.empty:
        return pd.DataFrame(), []
    rows = rows[(rows.ts_ms >= since_ms) & (rows.status.astype(int) < 400)]
    labels = monitoring.get_feedback(rows.request_id.tolist()) if len(rows) else {}
    keep = rows[rows.request_id.isin(list(labels))]
    if part is not None and holdout_percent:
        # astype(bool): on no rows, map() gives an empty object Series, which pandas would
        # take as a list of column labels and drop every column.
        inside = keep.request_id.map(lambda r: in_holdout(str(r), holdout_percent)).astype(bool)
        keep = keep[inside if part == "holdout" else ~inside]
    feats, ys = [], []
    for rid, raw in zip(keep.request_id, keep.inputs, strict=True):
        f = features(pd.Series([raw]), names)
        y = labels[rid]
        if len(f) == 1 and not isinstance(y, list):
            ys.append(y)
        elif isinstance(y, list) and len(y) == len(f) and len(f):
            ys += y
        else:
            continue
        feats.append(f)
    if not feats:
        return pd.DataFrame(), []
    X = pd.concat(feats, ignore_index=True)
    if last is not None and len(ys) > last:
        X, ys = X.iloc[-last:].reset_index(drop=True), ys[-last:]
    return X, ys


def canary_stats(policy: Policy, monitoring: MonitoringStore, since_ms: int,
                 versions: dict[str, int]) -> dict[str, dict[str, float]]:
    """Per role ("champion", "challenger"): requests, error rate, p99 latency and live
    quality of the traffic each version served since the canary started."""
    rows = read_log(policy.log_dir, policy.deployment, since_ms)
    out: dict[str, dict[str, float]] = {}
    if not rows.empty:
        rows = rows[rows.ts_ms >= since_ms]
    labels = monitoring.get_feedback(rows.request_id.tolist()) if len(rows) else {}
    task = task_of(policy)
    for role, version in versions.items():
        part = rows[rows.version.astype(str) == str(version)] if len(rows) else rows
        stats: dict[str, float] = {"requests": float(len(part))}
        if len(part):
            status = part.status.astype(int)
            stats["error_rate"] = float((status >= 400).mean())
            ok = part[status < 400]
            if len(ok):
                stats["p99_ms"] = float(np.percentile(ok.latency_ms.to_numpy(float), 99))
                pairs = [(p, labels[r]) for r, p in zip(ok.request_id, per_request(ok.outputs),
                                                        strict=True) if r in labels]
                stats.update(metrics_of(task, [p for p, _ in pairs], [y for _, y in pairs]))
        out[role] = stats
    return out

