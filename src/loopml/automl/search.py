"""The AutoML search: Optuna TPE over the model families under a wall-clock budget, with
pruning, every trial a tracked child run, and a greedy ensemble where it wins.

Validation: 5-fold stratified cross-validation below ``CV_MAX_ROWS`` rows (each fold's
running mean is reported to a median pruner, which stops poor trials after their first
folds); a 20 % stratified holdout above it, with trials fitted on at most
``SEARCH_MAX_ROWS`` rows (the final model is refitted on all of them). Gradient-boosted
families stop early on the holdout. The first trial of each family uses its default
settings (``families.DEFAULTS``); TPE (multivariate, seeded) proposes the rest.

Ensemble: Caruana et al.'s greedy forward selection with replacement ("Ensemble Selection
from Libraries of Models", ICML 2004) over the out-of-fold (or holdout) predictions of the
best ``ENSEMBLE_POOL`` scikit-learn trials; kept only when it beats the best single trial
on the same predictions.

Score: accuracy (balanced accuracy for imbalanced labels) or R^2, higher is better.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loopml.automl import families as fam

log = logging.getLogger("loopml.automl")
CV_MAX_ROWS = 10_000
SEARCH_MAX_ROWS = 20_000
ENSEMBLE_POOL = 12
ENSEMBLE_ROUNDS = 25


@dataclass
class _Pool:
    """Predictions of the completed trials on the validation rows, for the ensemble."""

    items: list[tuple[float, int, np.ndarray]] = field(default_factory=list)

    def add(self, score: float, number: int, pred: np.ndarray) -> None:
        self.items.append((score, number, pred))
        self.items.sort(key=lambda t: -t[0])
        del self.items[ENSEMBLE_POOL:]


def metric_name(report: dict[str, Any]) -> str:
    if report["task"] == "regression":
        return "r2"
    return "balanced_accuracy" if report.get("imbalanced") else "accuracy"


def score(report: dict[str, Any], y: np.ndarray, pred: np.ndarray,
          classes: np.ndarray | None) -> float:
    """``pred``: probabilities (n, k) for classification, values (n,) for regression."""
    from sklearn.metrics import balanced_accuracy_score, r2_score

    if report["task"] == "regression":
        return float(r2_score(y, pred))
    assert classes is not None
    labels = classes[np.argmax(pred, axis=1)]
    if report.get("imbalanced"):
        return float(balanced_accuracy_score(y, labels))
    return float(np.mean(labels == y))


def _predict(model: Any, x: Any, regression: bool) -> np.ndarray:
    return np.asarray(model.predict(x), dtype=float) if regression \
        else np.asarray(model.predict_proba(x), dtype=float)


class _Objective:
    def __init__(self, train: Any, report: dict[str, Any], ctx: dict[str, Any]) -> None:
        from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

        self.report, self.ctx = report, ctx
        target = report["target_column"]
        self.reg = report["task"] == "regression"
        x, y = train[report["features"]], train[target].to_numpy()
        self.classes = None if self.reg else np.unique(y)
        self.families = fam.available(report)
        self.pool = _Pool()
        self.done = 0  # completed trials
        seed = ctx.get("seed", 0)
        if len(train) <= CV_MAX_ROWS:
            splitter = (KFold(5, shuffle=True, random_state=seed) if self.reg
                        else StratifiedKFold(5, shuffle=True, random_state=seed))
            self.folds = list(splitter.split(x, y))
            self.x, self.y, self.holdout = x, y, False
            self.y_valid = y
        else:
            strat = None if self.reg else y
            tr, va = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed,
                                      stratify=strat)
            if len(tr) > SEARCH_MAX_ROWS:  # search on a sample; the final fit uses all rows
                tr = np.sort(np.random.default_rng(seed).choice(tr, SEARCH_MAX_ROWS,
                                                                replace=False))
            self.folds = [(tr, va)]
            self.x, self.y, self.holdout = x, y, True
            self.y_valid = y[va]

    def __call__(self, trial: Any) -> float:
        import optuna

        family = trial.suggest_categorical("family", self.families)
        params = fam.suggest(trial, family)
        oof: np.ndarray | None = None
        scores = []
        for k, (tr, va) in enumerate(self.folds):
            if k and time.monotonic() > self.ctx["deadline"] and self.done:
                raise optuna.TrialPruned()  # out of budget: stop between folds
            model = fam.build(family, params, self.report, seed=self.ctx.get("seed", 0))
            xtr, ytr = self.x.iloc[tr], self.y[tr]
            xva, yva = self.x.iloc[va], self.y[va]
            extra = self._early_stopping(family, model, xva, yva) if self.holdout else {}
            model.fit(xtr, ytr, **extra)
            if extra:
                trial.set_user_attr("best_iteration", _best_iteration(model))
            pred = _predict(model, xva, self.reg)
            if oof is None:
                shape = (len(self.y),) if self.reg else (len(self.y), pred.shape[1])
                oof = np.zeros(shape)
            oof[va] = pred
            scores.append(score(self.report, yva, pred, self.classes))
            trial.report(float(np.mean(scores)), k)
            if not self.holdout and trial.should_prune():
                raise optuna.TrialPruned()
        value = float(np.mean(scores))
        self.done += 1
        if oof is not None and family in fam.SKLEARN_FAMILIES:
            va_all = self.folds[0][1] if self.holdout else slice(None)
            self.pool.add(value, trial.number, oof[va_all])
        return value

    @staticmethod
    def _early_stopping(family: str, model: Any, xva: Any, yva: Any) -> dict[str, Any]:
        if family == "lightgbm":
            import lightgbm as lgb

            return {"eval_set": [(xva, yva)],
                    "callbacks": [lgb.early_stopping(30, verbose=False)]}
        if family == "xgboost":
            model.set_params(early_stopping_rounds=30)
            return {"eval_set": [(xva, yva)], "verbose": False}
        return {}


def _best_iteration(model: Any) -> int | None:
    for attr in ("best_iteration_", "best_iteration"):
        v = getattr(model, attr, None)
        if isinstance(v, int | np.integer) and v > 0:
            return int(v) + (1 if attr == "best_iteration" else 0)
    return None


def _ensemble(obj: _Objective) -> dict[str, Any] | None:
    """Greedy forward selection with replacement over the pool; None if it does not beat
    the best single trial."""
    items = obj.pool.items
    if len(items) < 2:
        return None
    y = obj.y_valid
    counts: dict[int, int] = {}
    total: np.ndarray | None = None
    best_single = items[0][0]
    best_score, history = -np.inf, []
    for _ in range(ENSEMBLE_ROUNDS):
        choice = None
        for _s, number, pred in items:
            cand = pred if total is None else total + pred
            n = sum(counts.values()) + 1
            sc = score(obj.report, y, cand / n, obj.classes)
            if choice is None or sc > choice[0]:
                choice = (sc, number, pred)
        assert choice is not None
        sc, number, pred = choice
        total = pred.copy() if total is None else total + pred
        counts[number] = counts.get(number, 0) + 1
        history.append(sc)
        best_score = max(best_score, sc)
    if len(counts) < 2 or best_score <= best_single + 1e-9:
        return None
    return {"members": {str(k): v for k, v in counts.items()}, "score": float(history[-1])}


def search(train: Any, report: dict[str, Any], budget_s: float, *, client: Any,
           experiment_id: str, parent_run_id: str | None, seed: int = 0,
           families: tuple[str, ...] | None = None,
           on_trial: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run the search on ``train`` (features and the target column named in ``report``)
    for ``budget_s`` seconds of wall clock. Each trial is a run in ``experiment_id``, a
    child of ``parent_run_id``. ``on_trial(progress)`` is called after each trial with
    ``{"trials": n, "best": score, "elapsed_s": s}``.

    Returns (JSON) ``{"metric", "trials": [{number, family, params, state, value,
    seconds, run_id, best_iteration}], "best": <trial>, "ensemble": {members, score} |
    None, "validation": "cv5" | "holdout"}``. Raises ``BuildInputError`` when no trial
    completes within the budget."""
    import optuna

    from loopml.automl.checks import BuildInputError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    report = dict(report)
    obj = _Objective(train, report, {"seed": seed, "deadline": time.monotonic() + budget_s})
    if families:
        obj.families = [f for f in obj.families if f in families] or obj.families
    import warnings

    with warnings.catch_warnings():  # multivariate TPE is marked experimental in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True,
                                             n_startup_trials=max(6, len(obj.families)))
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    for f in sorted(obj.families, key=_cheap_first):
        study.enqueue_trial({"family": f, **fam.DEFAULTS[f]})
    t0 = time.monotonic()
    trials: list[dict[str, Any]] = []
    metric = metric_name(report)

    def record(st: Any, ft: Any) -> None:
        state = ft.state.name
        tags = {"mlflow.parentRunId": parent_run_id} if parent_run_id else {}
        run = client.create_run(experiment_id, f"trial-{ft.number}-{ft.params.get('family')}",
                                {**tags, "loopml.trial.state": state,
                                 "loopml.automl.family": str(ft.params.get("family"))})
        rid = run.info.run_id
        client.log_params(rid, {k: str(v) for k, v in ft.params.items()})
        secs = (ft.datetime_complete - ft.datetime_start).total_seconds() \
            if ft.datetime_complete and ft.datetime_start else 0.0
        if ft.value is not None:
            client.log_metric(rid, metric, float(ft.value))
        client.log_metric(rid, "fit_seconds", secs)
        client.terminate(rid, {"COMPLETE": "FINISHED", "PRUNED": "KILLED"}.get(state, "FAILED"))
        trials.append({"number": ft.number, "family": ft.params.get("family"),
                       "params": {k: v for k, v in ft.params.items() if k != "family"},
                       "state": state, "value": ft.value, "seconds": round(secs, 3),
                       "run_id": rid, "best_iteration": ft.user_attrs.get("best_iteration")})
        if on_trial is not None:
            done = [t["value"] for t in trials if t["state"] == "COMPLETE"]
            on_trial({"trials": len(trials), "best": max(done) if done else None,
                      "elapsed_s": time.monotonic() - t0})

    from threadpoolctl import threadpool_limits

    # One thread per fit: on a shared machine OpenMP pools that spin-wait for busy cores
    # make small fits many times slower (HistGradientBoosting, measured here).
    with threadpool_limits(1):
        study.optimize(obj, timeout=budget_s, callbacks=[record], catch=(Exception,),
                       gc_after_trial=False)
    complete = [t for t in trials if t["state"] == "COMPLETE" and t["value"] is not None]
    if not complete:
        errs = [t for t in trials if t["state"] == "FAIL"]
        raise BuildInputError(
            f"No model finished within the {budget_s:g} s budget ({len(trials)} trial(s), "
            f"{len(errs)} failed); raise --budget-s.")
    best = max(complete, key=lambda t: t["value"])
    ens = _ensemble(obj)
    return {"metric": metric, "trials": trials, "best": best, "ensemble": ens,
            "validation": "holdout" if obj.holdout else "cv5",
            "search_seconds": round(time.monotonic() - t0, 2)}


def _cheap_first(f: str) -> int:
    return ["linear", "hist_gb", "lightgbm", "random_forest", "xgboost", "mlp"].index(f)


__all__ = ["CV_MAX_ROWS", "SEARCH_MAX_ROWS", "metric_name", "score", "search"]
