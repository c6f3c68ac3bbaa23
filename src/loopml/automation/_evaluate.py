"""Scores for the gate and the canary: both models on the same holdout, both on recent
labelled traffic (inference log joined with feedback), and per-version live statistics of
canary traffic."""

from __future__ import annotations

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


def score(model_uri: str, X: pd.DataFrame, y: list[Any], task: str) -> dict[str, float]:
    from loopml.models import load

    return metrics_of(task, _predict(load(model_uri), X, task), y)


def holdout(policy: Policy) -> tuple[pd.DataFrame, list[Any]] | None:
    if not policy.evaluate.holdout:
        return None
    frame = pd.read_parquet(policy.evaluate.holdout)
    label = policy.evaluate.label
    if label not in frame:
        raise ValueError(f"holdout {policy.evaluate.holdout} has no label column {label!r}")
    return frame.drop(columns=[label]), frame[label].tolist()


def recent_labelled(log_dir: str, deployment: str, monitoring: MonitoringStore,
                    since_ms: int, names: list[str] | None = None) -> tuple[pd.DataFrame, list[Any]]:
    """Single-row requests of the deployment since ``since_ms`` that have a label."""
    rows = read_log(log_dir, deployment, since_ms)
    if rows.empty:
        return pd.DataFrame(), []
    rows = rows[(rows.ts_ms >= since_ms) & (rows.status.astype(int) < 400)]
    labels = monitoring.get_feedback(rows.request_id.tolist()) if len(rows) else {}
    keep = rows[rows.request_id.isin(list(labels))]
    feats, ys = [], []
    for rid, raw in zip(keep.request_id, keep.inputs, strict=True):
        f = features(pd.Series([raw]), names)
        if len(f) == 1:
            feats.append(f)
            ys.append(labels[rid])
    if not feats:
        return pd.DataFrame(), []
    return pd.concat(feats, ignore_index=True), ys


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

