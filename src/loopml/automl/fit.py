"""Refit what the search found on all the training rows: the winner (a trial or the
ensemble) and the alternatives the target selection may fall back on when the winner
misses a budget (the best trial of each other family, fastest families included).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loopml.automl import families as fam

MAX_ALTERNATIVES = 3


def fit_trial(trial: dict[str, Any], report: dict[str, Any], train: Any, seed: int = 0) -> Any:
    """The trial's configuration fitted on ``train``; an early-stopped boosting trial is
    refitted with its best number of rounds (+10 %, for the extra rows)."""
    params = dict(trial["params"])
    it = trial.get("best_iteration")
    if it:
        key = {"lightgbm": "lgb_n", "xgboost": "xgb_n"}.get(trial["family"])
        if key:
            params[key] = max(10, int(it * 1.1))
    model = fam.build(trial["family"], params, report, seed=seed)
    return model.fit(train[report["features"]], train[report["target_column"]].to_numpy())


def fit_ensemble(ensemble: dict[str, Any], trials: list[dict[str, Any]],
                 report: dict[str, Any], train: Any, seed: int = 0) -> Any:
    """A soft-voting ensemble (weights = how often greedy selection picked a member)."""
    from sklearn.ensemble import VotingClassifier, VotingRegressor

    by_number = {t["number"]: t for t in trials}
    members, weights = [], []
    for number, count in sorted(ensemble["members"].items(), key=lambda kv: int(kv[0])):
        t = by_number[int(number)]
        members.append((f"{t['family']}_{number}", fam.build(t["family"], t["params"], report,
                                                            seed=seed)))
        weights.append(count)
    x, y = train[report["features"]], train[report["target_column"]].to_numpy()
    if report["task"] == "regression":
        return VotingRegressor(members, weights=weights).fit(x, y)
    return VotingClassifier(members, voting="soft", weights=weights).fit(x, y)


def plan(result: dict[str, Any]) -> list[dict[str, Any]]:
    """What to refit, best first: ``{"name", "kind": "trial"|"ensemble", "trial"|"ensemble",
    "score"}``. The ensemble (when it won), the best trial, then the best trial of up to
    ``MAX_ALTERNATIVES`` other families, the linear family always among them (the
    fastest to predict)."""
    done = [t for t in result["trials"] if t["state"] == "COMPLETE" and t["value"] is not None]
    done.sort(key=lambda t: -t["value"])
    out: list[dict[str, Any]] = []
    if result.get("ensemble"):
        out.append({"name": "ensemble", "kind": "ensemble", "ensemble": result["ensemble"],
                    "score": result["ensemble"]["score"]})
    seen: set[str] = set()
    for t in done:
        if t["family"] in seen:
            continue
        if len(seen) > MAX_ALTERNATIVES and t["family"] != "linear":
            continue
        seen.add(t["family"])
        out.append({"name": t["family"], "kind": "trial", "trial": t, "score": t["value"]})
    return out


def test_score(model: Any, report: dict[str, Any], test: Any) -> float:
    from loopml.automl.search import score

    x, y = test[report["features"]], test[report["target_column"]].to_numpy()
    if report["task"] == "regression":
        return score(report, y, np.asarray(model.predict(x), dtype=float), None)
    proba = np.asarray(model.predict_proba(x), dtype=float)
    return score(report, y, proba, np.asarray(model.classes_))


__all__ = ["MAX_ALTERNATIVES", "fit_ensemble", "fit_trial", "plan", "test_score"]
