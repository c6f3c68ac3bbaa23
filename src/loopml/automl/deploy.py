"""Select under the target profile's budgets, register with lineage, deploy, and write the
monitors and the loop policy.

Selection measures every refitted candidate with the target harness
(``loopml.targets.harness.measure``: a fresh worker pinned to the profile's cores, warm-up
dropped, p50/p99 with a badge) and applies ``loopml.targets.select.select``; the accuracy
it ranks by is the candidate's *validation* score from the search (the test rows stay
untouched). Models with text (categorical) inputs cannot be fed to the harness, which
measures float32 rows; they are timed in the build process instead (one row at a time,
badge "estimated").
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from loopml.targets.profile import TargetProfile, profile_from_dict


def with_budget(profile: TargetProfile, p99_ms: float | None) -> TargetProfile:
    """``profile`` with its latency budget set to ``p99_ms`` (p99, batch 1) when given."""
    if p99_ms is None:
        return profile
    d = profile.to_dict()
    d["slo"]["latency"] = {"percentile": "p99", "budget_ms": p99_ms, "at_batch": 1}
    return profile_from_dict(d, "--p99-ms")


def _timed_in_process(model: Any, rows: Any, calls: int) -> list[float]:
    lat = []
    for i in range(calls):
        row = rows.iloc[[i % len(rows)]]
        t = time.perf_counter_ns()
        (model.predict_proba if hasattr(model, "predict_proba") else model.predict)(row)
        lat.append((time.perf_counter_ns() - t) / 1e6)
    return lat


def measure_candidates(fitted: list[dict[str, Any]], profile: TargetProfile, rows: Any,
                       metric: str, *, calls: int = 200, rounds: int = 1) -> list[Any]:
    """One ``Measurement`` per candidate (``fitted``: ``{"name", "model_uri", "score"}``),
    accuracy set to the validation score."""
    from loopml.models._load import load_folder
    from loopml.models.uris import resolve
    from loopml.targets.candidates import Candidate, _native_size
    from loopml.targets.harness import ESTIMATED, Measurement, measure

    out = []
    for f in fitted:
        folder = resolve(f["model_uri"]).folder
        model = load_folder(folder, uri=f["model_uri"])
        cand = Candidate("native", "native", "fp32", {"flavor": model.flavor.name},
                         path=str(folder), deps=list(model.flavor.packages),
                         size_bytes=_native_size(model))
        import pandas as pd

        numeric = all(pd.api.types.is_numeric_dtype(rows[c]) or pd.api.types.is_bool_dtype(rows[c])
                      for c in rows.columns)
        if numeric:
            x = rows.to_numpy(dtype=np.float32)
            m = measure([cand], profile, x, None, calls=calls, rounds=rounds, retries=0,
                        warmup_calls=10, flavor=model.flavor.name)[0]
        else:
            lat = _timed_in_process(model.native, rows, calls)
            m = Measurement(cand, badge=ESTIMATED, p50_ms=float(np.percentile(lat, 50)),
                            p90_ms=float(np.percentile(lat, 90)),
                            p99_ms=float(np.percentile(lat, 99)), max_ms=max(lat),
                            mean_ms=float(np.mean(lat)), peak_rss_mb=0.0,
                            size_mb=cand.size_bytes / 2**20, calls=calls, rounds=1)
        m.candidate.name = f["name"]
        m.metric, m.accuracy, m.drop_points = metric, float(f["score"]), None
        out.append(m)
    return out


def monitor_and_policy(name: str, report: dict[str, Any], log_dir: str, workdir: Path,
                       holdout: str | None, retrain_params: dict[str, Any]) -> dict[str, str]:
    """Write ``monitors.yaml`` (feature drift over windows of the deployment's traffic,
    compared with the champion's training profile) and ``policies.yaml`` (retrain with the
    same build when the drift alert fires, gate on the holdout, canary) into ``workdir``;
    both are validated by the loaders ``loopml server`` uses. Returns their paths."""
    import yaml

    from loopml.automation import load_policies
    from loopml.monitoring.spec import load_specs

    reg = report["task"] == "regression"
    monitor = {"name": f"{name}-drift", "deployment": name, "log_dir": log_dir,
               "reference_profile": "champion", "window_seconds": None, "window_count": 200,
               "rules": [{"name": "drift_features", "metric": "drift.share_drifted",
                          "op": ">", "threshold": 0.3, "for_windows": 2}]}
    metric = "rmse" if reg else "accuracy"
    policy: dict[str, Any] = {
        "model": name, "deployment": name, "log_dir": log_dir,
        "trigger": {"alerts": ["drift*"]},
        "retrain": {"pipeline": "loopml.automl.flow:retrain", "output_step": "challenger",
                    "params": retrain_params, "min_new_labels": 100,
                    "labels_deadline_seconds": 3600},
        "gate": {"require_validation": False, "min_improvement": 0.0, "allow_ties": True},
        "canary": {"weight": 20, "min_requests": 200, "max_seconds": 3600},
        "cooldown_seconds": 3600}
    if holdout:
        policy["evaluate"] = {"holdout": holdout, "label": report["target_column"],
                              "metric": metric}
    workdir.mkdir(parents=True, exist_ok=True)
    mpath, ppath = workdir / "monitors.yaml", workdir / "policies.yaml"
    mpath.write_text(yaml.safe_dump({"monitors": [monitor]}, sort_keys=False))
    ppath.write_text(yaml.safe_dump({"policies": [policy]}, sort_keys=False))
    load_specs(str(mpath))
    load_policies(ppath)
    return {"monitors": str(mpath), "policies": str(ppath)}


def register_and_deploy(name: str, model_uri: str, tags: dict[str, str], client: Any
                        ) -> tuple[str, int]:
    """Register ``model_uri`` as a new version of ``name`` (alias ``champion``) and point
    deployment ``name`` at it (created if new). Returns (models:/ URI, version)."""
    from loopml.entities import TrafficRoute
    from loopml.errors import ResourceAlreadyExists, ResourceDoesNotExist
    from loopml.models import register_model
    from loopml.store import get_deployment_store, get_registry_store

    mv = register_model(model_uri, name, client=client, tags=tags)
    get_registry_store(client.store).set_registered_model_alias(name, "champion", mv.version)
    uri = f"models:/{name}/{mv.version}"
    deployments = get_deployment_store(client.store)
    routes = [TrafficRoute(uri, 100.0)]
    try:
        deployments.get_deployment(name)
        deployments.update_deployment(name, routes=routes)
    except ResourceDoesNotExist:
        try:
            deployments.create_deployment(name, routes)
        except ResourceAlreadyExists:  # created concurrently: update it
            deployments.update_deployment(name, routes=routes)
    return uri, int(mv.version)


def curl_example(name: str, report: dict[str, Any], row: dict[str, Any],
                 url: str = "http://127.0.0.1:8080") -> str:
    """A copy-paste ``curl`` call of the V2 infer route with one tensor per column, typed
    as the column is (INT64, FP64, BOOL or BYTES)."""
    import json

    inputs = []
    for c in report["features"]:
        v = row[c]
        value: Any
        if isinstance(v, bool | np.bool_):
            dtype, value = "BOOL", bool(v)
        elif isinstance(v, int | np.integer):
            dtype, value = "INT64", int(v)
        elif isinstance(v, float | np.floating):
            dtype, value = "FP64", 0.0 if np.isnan(v) else float(v)
        else:
            dtype, value = "BYTES", "" if v is None else str(v)
        inputs.append({"name": c, "shape": [1], "datatype": dtype, "data": [value]})
    body = json.dumps({"inputs": inputs})
    return (f"curl -s {url}/v2/models/{name}/infer -H 'content-type: application/json' "
            f"-d '{body}'")


__all__ = ["curl_example", "measure_candidates", "monitor_and_policy", "register_and_deploy",
           "with_budget"]
