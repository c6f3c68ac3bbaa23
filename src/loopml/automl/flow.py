"""The build as a pipeline: every stage a cached ``@step``, so that running the same build
again after a failure starts at the stage that failed (the steps before it are cache hits:
same code, same inputs, same parameters).

    load -> check -> split -> automl -> fit -> select -> deploy

``retrain`` is the pipeline the generated loop policy runs when drift fires: the same
stages on the original data plus the deployment's labelled traffic, ending on a
``challenger`` step that returns ``{"model_uri": ...}``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from loopml.pipelines import pipeline, step


def _progress(workdir: str, **fields: Any) -> None:
    """Merge ``fields`` into ``workdir/progress.json`` (what the dashboard shows)."""
    if not workdir:
        return
    p = Path(workdir) / "progress.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        cur = json.loads(p.read_text()) if p.is_file() else {}
    except ValueError:
        cur = {}
    cur.update(fields, updated=time.time())
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(cur, default=str))
    tmp.replace(p)


@step(name="load")
def load_data(data: str, fingerprint: str, workdir: str) -> pd.DataFrame:
    """The rows behind ``data`` (``fingerprint`` keys the cache on its content)."""
    from loopml.automl.sources import load

    _progress(workdir, stage="load")
    return load(data)


@step(name="check")
def check_data(frame: pd.DataFrame, target_column: str, task: str, workdir: str) -> dict:  # type: ignore[type-arg]
    """Schema, quality and leakage checks; the task suggested or confirmed."""
    from loopml.automl.checks import inspect_frame

    _progress(workdir, stage="check")
    report = inspect_frame(frame, target_column, task)
    for w in report["warnings"]:
        print(f"warning: {w}")
    return report


@step(name="split", outputs=("train", "test"))
def split_data(frame: pd.DataFrame, report: dict, test_size: float, seed: int  # type: ignore[type-arg]
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified (classification) train/test split without replacement."""
    from sklearn.model_selection import train_test_split

    cols = [*report["features"], report["target_column"]]
    frame = frame[cols]
    if test_size <= 0:
        return frame.reset_index(drop=True), frame.iloc[:0]
    strat = None if report["task"] == "regression" else frame[report["target_column"]]
    train, test = train_test_split(frame, test_size=test_size, random_state=seed,
                                   shuffle=True, stratify=strat)
    return train.reset_index(drop=True), test.reset_index(drop=True)


@step(name="automl")
def automl_search(train: pd.DataFrame, report: dict, budget_s: float, seed: int,  # type: ignore[type-arg]
                  families: list, workdir: str) -> dict:  # type: ignore[type-arg]
    """Optuna over the families for ``budget_s`` seconds; trials are child runs."""
    from loopml.automl.search import search
    from loopml.tracking import _fluent

    parent = _fluent.current_run_id()
    client = _fluent.client()
    exp = client.get_run(parent).info.experiment_id
    t_end = time.time() + budget_s
    _progress(workdir, stage="automl", trials=0, best=None, budget_s=budget_s, ends_at=t_end)

    def on_trial(p: dict[str, Any]) -> None:
        _progress(workdir, trials=p["trials"], best=p["best"])

    res = search(train, report, budget_s, client=client, experiment_id=exp,
                 parent_run_id=parent, seed=seed, families=tuple(families or ()) or None,
                 on_trial=on_trial)
    _fluent.log_metric(f"best_{res['metric']}", res["best"]["value"])
    if res["ensemble"]:
        _fluent.log_metric(f"ensemble_{res['metric']}", res["ensemble"]["score"])
    return res


def has_budgets(profile: dict | None) -> bool:  # type: ignore[type-arg]
    """Whether ``profile`` (a dict) sets any budget the selection can miss."""
    slo = (profile or {}).get("slo") or {}
    acc = slo.get("accuracy") or {}
    return any(slo.get(k) is not None for k in ("latency", "peak_memory_mb", "artifact_max_mb")) \
        or acc.get("min") is not None


@step(name="fit")
def fit_models(train: pd.DataFrame, test: pd.DataFrame, report: dict, result: dict,  # type: ignore[type-arg]
               seed: int, workdir: str, alternatives: bool = True) -> dict:  # type: ignore[type-arg]
    """Refit the winner and (``alternatives``: when the profile has budgets to miss) the
    alternatives on all training rows, log each as a model of this step's run (with the
    training data's schema and profile, which drift monitors compare traffic against) and
    score them on the test rows."""
    from loopml import models
    from loopml.automl.fit import fit_ensemble, fit_trial, plan, test_score
    from loopml.data import log_dataset
    from loopml.tracking import _fluent

    _progress(workdir, stage="fit")
    from threadpoolctl import threadpool_limits

    x = train[report["features"]]
    log_dataset(x, name="train")
    out = []
    for item in plan(result)[:None if alternatives else 1]:
        with threadpool_limits(1):  # see search(): spinning OpenMP pools on a shared machine
            model = (fit_ensemble(item["ensemble"], result["trials"], report, train, seed)
                     if item["kind"] == "ensemble"
                     else fit_trial(item["trial"], report, train, seed))
        info = models.log_model(model, f"model-{item['name']}", input_example=x.head(3))
        ts = test_score(model, report, test) if len(test) else None
        if ts is not None:
            _fluent.log_metric(f"test_{result['metric']}.{item['name']}", ts)
        out.append({"name": item["name"], "model_uri": info.model_uri, "score": item["score"],
                    "test_score": ts})
    return {"candidates": out, "run_id": _fluent.current_run_id()}


@step(name="select")
def select_model(fitted: dict, train: pd.DataFrame, report: dict, profile: dict,  # type: ignore[type-arg]
                 calls: int, workdir: str) -> dict:  # type: ignore[type-arg]
    """Measure the candidates on the target profile and pick the most accurate one within
    its budgets; ``chosen`` is None (with the nearest misses) when none fits."""
    from loopml.automl.deploy import measure_candidates
    from loopml.automl.search import metric_name
    from loopml.targets.profile import profile_from_dict
    from loopml.targets.select import select

    _progress(workdir, stage="select")
    prof = profile_from_dict(profile, "profile")
    rows = train[report["features"]].head(256).reset_index(drop=True)
    ms = measure_candidates(fitted["candidates"], prof, rows, metric_name(report), calls=calls)
    sel = select(ms, prof)
    by_name = {c["name"]: c for c in fitted["candidates"]}
    chosen = by_name[sel.chosen.candidate.name] if sel.chosen else None
    message, misses = sel.message, list(sel.misses)
    failed = [m for m in ms if not m.ok]
    if chosen is None and not has_budgets(profile):
        # No budget to miss: a measurement that failed does not block the best model.
        chosen = fitted["candidates"][0]
        message = (f"chose {chosen['name']} (no budgets to meet; measurement: "
                   f"{failed[0].error if failed else 'ok'})")
    elif chosen is None:
        misses += [{"candidate": m.candidate.name, "excess": float("inf"),
                    "gaps": [f"measurement failed: {m.error}"],
                    "fix": "see the error; measure on the target"} for m in failed]
    return {"chosen": chosen, "message": message, "misses": misses,
            "measurements": [{"name": m.candidate.name, "p50_ms": m.p50_ms, "p99_ms": m.p99_ms,
                              "badge": m.badge, "peak_rss_mb": m.peak_rss_mb,
                              "size_mb": m.size_mb, "score": m.accuracy,
                              "error": m.error or None} for m in ms]}


@step(name="deploy", cache=False)
def deploy_model(selection: dict, fitted: dict, report: dict, name: str, data: str,  # type: ignore[type-arg]
                 fingerprint: str, profile_ref: str, log_dir: str, workdir: str,
                 test: pd.DataFrame, retrain_params: dict) -> dict:  # type: ignore[type-arg]
    """Register the chosen model with lineage, point deployment ``name`` at it, and write
    the monitor and loop-policy files. Nothing is deployed when nothing was chosen."""
    from loopml.automl.deploy import monitor_and_policy, register_and_deploy
    from loopml.tracking import _fluent

    chosen = selection["chosen"]
    if chosen is None:
        _progress(workdir, stage="no feasible model")
        return {"deployed": False}
    _progress(workdir, stage="deploy")
    tags = {"loopml.automl.data": data, "loopml.automl.data_fingerprint": fingerprint,
            "loopml.automl.fit_run": fitted["run_id"], "loopml.target": profile_ref,
            "loopml.automl.candidate": chosen["name"],
            "loopml.automl.task": report["task"]}
    client = _fluent.client()
    uri, version = register_and_deploy(name, chosen["model_uri"], tags, client)
    wd = Path(workdir)
    holdout = None
    if len(test):
        holdout = str(wd / "holdout.parquet")
        wd.mkdir(parents=True, exist_ok=True)
        test.to_parquet(holdout)
    files = monitor_and_policy(name, report, log_dir, wd, holdout, retrain_params)
    return {"deployed": True, "model_uri": uri, "version": version, **files}


@pipeline(name="automl-build")
def build_pipeline(data: str, fingerprint: str, target_column: str, task: str = "auto",  # type: ignore[no-untyped-def]
                   budget_s: float = 120.0, test_size: float = 0.2, seed: int = 0,
                   families: list | None = None, profile: dict | None = None,  # type: ignore[type-arg]
                   profile_ref: str = "", calls: int = 200,
                   name: str = "model", log_dir: str = "", workdir: str = "",
                   retrain_params: dict | None = None, alternatives: bool = True):  # type: ignore[type-arg]
    frame = load_data(data, fingerprint, workdir)
    report = check_data(frame, target_column, task, workdir)
    train, test = split_data(frame, report, test_size, seed)
    result = automl_search(train, report, budget_s, seed, families, workdir)
    fitted = fit_models(train, test, report, result, seed, workdir, alternatives)
    selection = select_model(fitted, train, report, profile, calls, workdir)
    return deploy_model(selection, fitted, report, name, data, fingerprint, profile_ref,
                        log_dir, workdir, test, retrain_params)


# ---- retraining (run by the generated loop policy) -----------------------------------------
@step(name="collect")
def collect(loop: dict | None, data: str, target_column: str) -> pd.DataFrame:  # type: ignore[type-arg]
    """The original rows plus the deployment's labelled traffic since the trigger."""
    from loopml.automation import labelled_traffic
    from loopml.automl.sources import load

    base = load(data)
    if not loop:
        return base
    features = [c for c in base.columns if c != target_column]
    x, y = labelled_traffic(loop, features=features)
    if not len(y):
        return base
    recent = x.assign(**{target_column: y})
    return pd.concat([base, recent[base.columns]], ignore_index=True)


@step(name="challenger")
def challenger(fitted: dict) -> dict:  # type: ignore[type-arg]
    """The best refitted candidate's URI, for the loop's gate."""
    best = fitted["candidates"][0]
    return {"model_uri": best["model_uri"], "score": best["score"]}


@pipeline(name="automl-retrain")
def retrain(loop: dict | None = None, data: str = "", target_column: str = "",  # type: ignore[no-untyped-def,type-arg]
            task: str = "auto", budget_s: float = 60.0, seed: int = 1):
    frame = collect(loop, data, target_column)
    report = check_data(frame, target_column, task, "")
    train, test = split_data(frame, report, 0.0, seed)
    result = automl_search(train, report, budget_s, seed, [], "")
    return challenger(fit_models(train, test, report, result, seed, "", False))


__all__ = ["build_pipeline", "retrain"]
