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
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from loopml.data import DataSchema, Profile, detect_drift, load_profile, load_schema, validate
from loopml.monitoring.alerts import AlertEngine
from loopml.monitoring.spec import MonitorSpec
from loopml.store.monitoring_base import MonitoringStore, WindowResult

log = logging.getLogger("loopml.monitoring")


def _written_ms(f: Path) -> int:
    """The write time in a part file's name (part-<ms>-<id>.parquet); every row in the file
    was recorded before it."""
    try:
        return int(f.name.split("-", 2)[1])
    except (IndexError, ValueError):
        return 1 << 62  # not our naming: always read it


def read_log(log_dir: str, deployment: str, since_ms: int = 0) -> pd.DataFrame:
    """The deployment's primary requests; with ``since_ms``, files written before then are
    not read at all (the loop's canary checks poll this every pass)."""
    import pyarrow.parquet as pq

    part = Path(log_dir) / f"deployment={deployment}"
    files = sorted(f for f in part.glob("date=*/part-*.parquet") if _written_ms(f) >= since_ms)
    if not files:
        return pd.DataFrame(columns=["request_id", "timestamp", "inputs", "outputs",
                                     "latency_ms", "status", "role"])
    frame = pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
    if "role" in frame:
        frame = frame[frame.role == "primary"]
    frame["ts_ms"] = frame.timestamp.astype("int64") // 1000  # us -> ms
    return frame.sort_values("ts_ms", ignore_index=True)


def _features(inputs: pd.Series, names: list[str] | None) -> pd.DataFrame:
    rows: list[list[Any]] = []
    columns: list[str] | None = None
    for raw in inputs:
        v = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
        if v is None:
            continue
        if isinstance(v, dict):  # a DataFrame: {"columns", "data"}
            columns = columns or v["columns"]
            rows += v["data"]
        else:
            rows += v if v and isinstance(v[0], list) else [v]
    if not rows:
        return pd.DataFrame()
    width = len(rows[0])
    cols = columns or (names if names and len(names) == width else [f"f{i}" for i in range(width)])
    return pd.DataFrame(rows, columns=cols)


def _outputs(outputs: pd.Series) -> list[Any]:
    out: list[Any] = []
    for raw in outputs:
        v = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
        if isinstance(v, list):
            out += v
        else:
            out.append(v)
    return out


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
    feats = _features(ok.inputs, names)
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
    preds = _outputs(ok.outputs)
    if predictions is not None and preds:
        pr = detect_drift(predictions, pd.DataFrame({next(iter(predictions.columns)): preds}))
        metrics["prediction.drift"] = float(pr.columns[0].statistic or 0.0)
        metrics["prediction.drifted"] = float(pr.columns[0].drifted)
    if spec.task and len(ok):
        labels = store.get_feedback(ok.request_id.tolist())
        pairs = [(p, labels[r]) for r, p in zip(ok.request_id, _per_request(ok.outputs), strict=True)
                 if r in labels]
        metrics.update(_quality(spec.task, [p for p, _ in pairs], [y for _, y in pairs]))
    return {k: v for k, v in metrics.items() if not (isinstance(v, float) and math.isnan(v))}, details


def _per_request(outputs: pd.Series) -> list[Any]:
    """One prediction per request (the first row's, for single-row requests)."""
    out = []
    for raw in outputs:
        v = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
        out.append(v[0] if isinstance(v, list) and v else v)
    return out


def alert_engine(spec: MonitorSpec, tracking: Any) -> AlertEngine:
    """Rules of ``spec`` publishing to the event log, the log, and the spec's webhooks."""
    from loopml.monitoring.alerts import notifier, store_publisher, webhook_publisher
    from loopml.monitoring.webhooks import Webhook

    sinks = [store_publisher(tracking)]
    for h in spec.webhooks:
        sinks.append(webhook_publisher(Webhook(h["url"], h["secret"], tuple(h.get("allow", ())))))
    return AlertEngine(spec.rules, notifier(sinks))


def run_monitor(spec: MonitorSpec, store: MonitoringStore, engine: AlertEngine | None = None,
                now_ms: int | None = None) -> list[WindowResult]:
    """Compute every closed window not computed yet; feed the alert rules; return the new
    results in time order."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    reference = load_profile(spec.reference_profile) if spec.reference_profile else None
    predictions = load_profile(spec.prediction_profile) if spec.prediction_profile else None
    schema = load_schema(spec.schema) if spec.schema else None
    engine = engine or AlertEngine(spec.rules)
    done = store.computed_windows(spec.name)
    new: list[WindowResult] = []
    for start, end, rows in _windows(read_log(spec.log_dir, spec.deployment), spec, now_ms):
        if start in done:
            continue
        metrics, details = compute_window(spec, rows, store, reference, predictions, schema)
        result = WindowResult(spec.name, start, end, metrics, details)
        if store.put_result(result):  # False: another runner stored it first
            new.append(result)
            engine.observe(spec.deployment, end, metrics)
    return new
