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

    if not spec.webhooks:
        return None
    # ${secret:NAME} references resolve in the same database as the alerts (the built-in
    # secrets backend lives in the metadata store).
    return consumer(tracking, spec.name,
                    parse_hooks(spec.webhooks, getattr(tracking, "engine", None)))


def follows_model(spec: MonitorSpec) -> bool:
    """Whether the spec's reference is a registered model's (it changes on promotion)."""
    ref = spec.reference_profile or ""
    return ref == "champion" or ref.startswith("models:/")


def model_reference(spec: MonitorSpec, client: Any) -> tuple[str, Profile]:
    """(models:/NAME/VERSION, the training profile logged with that version's run) for a spec
    whose reference follows a model. "champion" takes the registered model that serves most
    of the deployment's traffic, at alias champion. Raises ValueError when there is none."""
    from loopml.data._log import load_run_profile
    from loopml.models.uris import parse_models_uri
    from loopml.store import get_deployment_store, get_registry_store

    ref = str(spec.reference_profile)
    if ref == "champion":
        routes = get_deployment_store(client.store).get_deployment(spec.deployment).routes
        top = max(routes, key=lambda r: r.weight).model_uri
        if not top.startswith("models:/"):
            raise ValueError(f"monitor {spec.name}: reference_profile champion needs a "
                             f"registered model in deployment {spec.deployment}, got {top}")
        ref = f"models:/{parse_models_uri(top)[0]}@champion"
    name, version, alias = parse_models_uri(ref)
    reg = get_registry_store(client.store)
    mv = reg.get_model_version_by_alias(name, alias) if alias else \
        reg.get_model_version(name, str(version))
    prof = load_run_profile(client, mv.run_id) if mv.run_id else None
    if prof is None:
        raise ValueError(f"monitor {spec.name}: {name} version {mv.version} has no training "
                         "profile (log its data with loopml.data.log_dataset)")
    return f"models:/{name}/{mv.version}", prof


def _followed_version(client: Any, uri: str) -> Any:
    """The ModelVersion of ``models:/NAME/VERSION``."""
    from loopml.models.uris import parse_models_uri
    from loopml.store import get_registry_store

    name, version, _ = parse_models_uri(uri)
    return get_registry_store(client.store).get_model_version(name, str(version))


def run_monitor(spec: MonitorSpec, store: MonitoringStore, engine: AlertEngine | None = None,
                now_ms: int | None = None, client: Any = None) -> list[WindowResult]:
    """Compute every closed window not computed yet; feed the alert rules; return the new
    results in time order. Reads the log incrementally: only records at or after the end of
    the monitor's latest stored window (its cursor, in the store), and only files written
    since then. ``client`` (a TrackingClient, from the process's composition root) resolves
    a reference that follows a model (``InvalidParameterValue`` without one); the window's
    details name the version compared to. Runs in the spec's workspace (results, alert states, events and model lookups are that workspace's)."""
    from loopml.security.workspaces import use_workspace

    with use_workspace(spec.workspace):
        return _run_monitor(spec, store, engine, now_ms, client)


def _run_monitor(spec: MonitorSpec, store: MonitoringStore, engine: AlertEngine | None,
                 now_ms: int | None, client: Any) -> list[WindowResult]:
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    followed: str | None = None
    reference: Profile | None
    stale: Any = None  # the followed model version, for the staleness metrics
    if follows_model(spec):
        if client is None:
            from loopml.errors import InvalidParameterValue

            raise InvalidParameterValue(
                f"Monitor {spec.name!r} follows a registered model: run_monitor needs the "
                "client= of the store that registry is in (loopml.services).")
        followed, reference = model_reference(spec, client)
        stale = _followed_version(client, followed)
    else:
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
        if followed:
            details["reference"] = followed
        if stale is not None:
            from loopml.monitoring.staleness import staleness_metrics

            metrics.update(staleness_metrics(client, store, stale, end))
        result = WindowResult(spec.name, start, end, metrics, details)
        if store.put_result(result):  # False: another runner stored it first
            new.append(result)
            engine.observe(spec.deployment, end, metrics)
    return new


__all__ = ["MonitorSpec", "alert_engine", "compute_window", "run_monitor", "webhook_consumer"]
