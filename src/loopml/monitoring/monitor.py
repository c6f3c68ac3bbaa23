"""Monitors over the serving inference log: tumbling windows (by time or by count) of one
deployment's traffic, each turned into one row of metrics.

Per window: feature drift against the training reference profile, prediction drift (when a
reference profile of predictions is given), data-validation anomalies against the training
schema, latency p50/p99 and error rate (for SLOs), and live quality from ground truth that
arrived through feedback (accuracy and macro F1, plus ROC AUC when outputs are scores; or
MAE and RMSE), with the number of labels used.

Only complete windows are computed, and a window already stored is skipped, so running a
monitor again (or twice at once) never duplicates a result. Late labels are not back-filled
into a stored window; a window is computed once, after it closes.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np
import pandas as pd

from loopml.data import DataSchema, Profile, detect_drift, load_profile, load_schema, validate
from loopml.inference_log import InferenceLogReader, features, outputs, per_request
from loopml.monitoring.alerts import AlertEngine
from loopml.monitoring.spec import MonitorSpec
from loopml.store.monitoring_base import MonitoringStore, WindowResult

log = logging.getLogger("loopml.monitoring")




def _quality(task: str, preds: list[Any], labels: list[Any]) -> dict[str, float]:
    from sklearn import metrics as skm

    m: dict[str, float] = {"quality.labels": float(len(labels))}
    if not labels:
        return m
    if task == "regression":
        p, y = np.asarray(preds, float), np.asarray(labels, float)
        m["quality.mae"] = float(np.mean(np.abs(p - y)))
        m["quality.rmse"] = float(np.sqrt(np.mean((p - y) ** 2)))
        return m
    p_arr = np.asarray(preds)
    if p_arr.dtype.kind == "f" and p_arr.ndim == 1 and ((p_arr >= 0) & (p_arr <= 1)).all():
        scores, hard = p_arr, (p_arr >= 0.5).astype(int)  # scores of the positive class
    else:
        scores, hard = None, p_arr
    y = np.asarray(labels)
    m["quality.accuracy"] = float(skm.accuracy_score(y.astype(str), hard.astype(str)))
    m["quality.f1"] = float(skm.f1_score(y.astype(str), hard.astype(str), average="macro"))
    if scores is not None and len(set(y.tolist())) == 2:
        m["quality.roc_auc"] = float(skm.roc_auc_score(y, scores))
    return m


def _windows(frame: pd.DataFrame, spec: MonitorSpec, now_ms: int) -> list[tuple[int, int, pd.DataFrame]]:
    if frame.empty:
        return []
    if spec.window_count:
        n = spec.window_count
        out = []
        for i in range(0, len(frame) - n + 1, n):  # full windows only
            chunk = frame.iloc[i:i + n]
            out.append((int(chunk.ts_ms.iloc[0]), int(chunk.ts_ms.iloc[-1]) + 1, chunk))
        return out
    w = int((spec.window_seconds or 300) * 1000)
    starts = (frame.ts_ms // w) * w
    return [(int(s), int(s) + w, frame[starts == s]) for s in sorted(starts.unique())
            if int(s) + w <= now_ms]  # closed windows only


def compute_window(spec: MonitorSpec, rows: pd.DataFrame, store: MonitoringStore,
                   reference: Profile | None, predictions: Profile | None,
                   schema: DataSchema | None) -> tuple[dict[str, float], dict[str, Any]]:
    metrics: dict[str, float] = {"requests": float(len(rows))}
    details: dict[str, Any] = {}
    status = rows.status.astype(int)
    metrics["errors.rate"] = float((status >= 400).mean())
    ok = rows[status < 400]
    lat = ok.latency_ms.to_numpy(float)
    if len(lat):
        metrics["latency.p50_ms"] = float(np.percentile(lat, 50))
        metrics["latency.p99_ms"] = float(np.percentile(lat, 99))
    names = list(reference.columns) if reference else None
    feats = features(ok.inputs, names)
    if reference is not None and not feats.empty:
        report = detect_drift(reference, feats)
        metrics["drift.share_drifted"] = report.share_drifted
        metrics["drift.dataset_drift"] = float(report.dataset_drift)
        details["drift"] = report.to_dict()
    if schema is not None and not feats.empty:
        anomalies = validate(feats, schema)
        metrics["data.anomalies"] = float(len(anomalies))
        metrics["data.errors"] = float(sum(a.severity == "error" for a in anomalies))
        details["anomalies"] = [a.__dict__ for a in anomalies]
    preds = outputs(ok.outputs)
    if predictions is not None and preds:
        pr = detect_drift(predictions, pd.DataFrame({next(iter(predictions.columns)): preds}))
        metrics["prediction.drift"] = float(pr.columns[0].statistic or 0.0)
        metrics["prediction.drifted"] = float(pr.columns[0].drifted)
    if spec.task and len(ok):
        labels = store.get_feedback(ok.request_id.tolist())
        pairs = [(p, labels[r]) for r, p in zip(ok.request_id, per_request(ok.outputs), strict=True)
                 if r in labels]
        metrics.update(_quality(spec.task, [p for p, _ in pairs], [y for _, y in pairs]))
    return {k: v for k, v in metrics.items() if not (isinstance(v, float) and math.isnan(v))}, details


def alert_engine(spec: MonitorSpec, tracking: Any) -> AlertEngine:
    """Rules of ``spec`` with their state in the store, publishing to the event log (with
    the state, one transaction) and a log line. The spec's webhooks are checked here
    (``InvalidParameterValue`` for a URL the SSRF guard refuses) and served by
    ``webhook_consumer``, which reads those events."""
    from loopml.monitoring.alerts import notifier
    from loopml.monitoring.webhooks import parse_hooks
    from loopml.store import get_monitoring_store

    parse_hooks(spec.webhooks)
    return AlertEngine(spec.rules, notifier([]), get_monitoring_store(tracking), spec.name)


def webhook_consumer(spec: MonitorSpec, tracking: Any) -> Any:
    """The event consumer that delivers ``spec``'s alerts to its webhooks, or None."""
    from loopml.monitoring.webhooks import parse_hooks
    from loopml.monitoring.webhooks import webhook_consumer as consumer

    return consumer(tracking, spec.name, parse_hooks(spec.webhooks)) if spec.webhooks else None


def run_monitor(spec: MonitorSpec, store: MonitoringStore, engine: AlertEngine | None = None,
                now_ms: int | None = None) -> list[WindowResult]:
    """Compute every closed window not computed yet; feed the alert rules; return the new
    results in time order. Reads the log incrementally: only records at or after the end of
    the monitor's latest stored window (its cursor, in the store), and only files written
    since then."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    reference = load_profile(spec.reference_profile) if spec.reference_profile else None
    predictions = load_profile(spec.prediction_profile) if spec.prediction_profile else None
    schema = load_schema(spec.schema) if spec.schema else None
    engine = engine or AlertEngine(spec.rules)
    cursor = store.last_window_end(spec.name)
    done = {s for s in store.computed_windows(spec.name) if s >= cursor} if cursor else set()
    rows = InferenceLogReader(spec.log_dir).read(spec.deployment, since_ms=cursor,
                                                 since_us=cursor * 1000)
    new: list[WindowResult] = []
    for start, end, window in _windows(rows, spec, now_ms):
        if start in done:
            continue
        metrics, details = compute_window(spec, window, store, reference, predictions, schema)
        result = WindowResult(spec.name, start, end, metrics, details)
        if store.put_result(result):  # False: another runner stored it first
            new.append(result)
            engine.observe(spec.deployment, end, metrics)
    return new


__all__ = ["MonitorSpec", "alert_engine", "compute_window", "run_monitor", "webhook_consumer"]
