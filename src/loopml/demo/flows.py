"""The demo's pipelines: ``train`` (the first champion) and ``retrain`` (what the loop
policy runs when monitoring raises an alert). Both tune a gradient-boosting classifier with
loopml.tuning and end with a ``register`` step that returns the model's URI."""

from __future__ import annotations

from typing import Any

import pandas as pd

import loopml
from loopml.demo.scenario import FEATURES, LABEL, sensors
from loopml.pipelines import pipeline, step


@step
def generate(rows: int, seed: int) -> pd.DataFrame:
    return sensors(rows, seed, day=0.0)


@step(outputs=("data", "recent"))
def collect(loop: dict | None, min_rows: int, include_original: bool,  # type: ignore[type-arg]
            seed: int, invert_labels: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Recent traffic of the deployment joined with its late labels (less the policy's
    rolling holdout), plus, optionally, the original training distribution; and the recent
    part alone (the reference the monitors compare with once the model is champion)."""
    from loopml.automation import labelled_traffic

    recent = pd.DataFrame(columns=[*FEATURES, LABEL])
    if loop:
        X, y = labelled_traffic(loop, features=FEATURES)
        if len(y):
            recent = X.assign(**{LABEL: y})
    parts = [recent] if len(recent) else []
    if include_original or not parts or len(recent) < min_rows:
        parts.append(sensors(2000, seed, day=0.0))
    print(f"collected {sum(len(p) for p in parts)} labelled rows ({len(recent)} recent)")
    data = pd.concat(parts, ignore_index=True)
    if invert_labels:  # `loopml demo --bad-challenger`: a model the canary must catch
        data[LABEL] = 1 - data[LABEL].astype(int)
    return data, recent


@step(outputs=("train", "valid"))
def split(data: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    valid = data.sample(frac=0.25, random_state=seed)
    return data.drop(valid.index).reset_index(drop=True), valid.reset_index(drop=True)


def _fit(train: pd.DataFrame, lr: float, leaves: int, iters: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(learning_rate=lr, max_leaf_nodes=leaves,
                                          max_iter=iters, class_weight="balanced",
                                          random_state=0).fit(train[FEATURES], train[LABEL])


@step
def tune_model(train: pd.DataFrame, valid: pd.DataFrame, trials: int) -> dict:  # type: ignore[type-arg]
    """Search learning rate, tree size and rounds with TPE; the trials are child runs."""
    from sklearn.metrics import f1_score

    from loopml.tuning import loguniform, randint, tune

    def objective(trial: Any) -> float:
        model = _fit(train, trial["lr"], trial["leaves"], trial["iters"])
        return float(f1_score(valid[LABEL], model.predict(valid[FEATURES])))

    r = tune(objective, {"lr": loguniform(0.03, 0.3), "leaves": randint(8, 31),
                         "iters": randint(40, 120)}, n_trials=trials, direction="maximize",
             metric="f1", seed=0)
    loopml.log_metric("best_valid_f1", r.best_value)
    return {**r.best_params, "valid_f1": r.best_value}


@step
def register(train: pd.DataFrame, best: dict, reference: pd.DataFrame) -> dict:  # type: ignore[type-arg]
    """Fit the best configuration, log the model (with the schema and profile of the data
    it is meant to serve: ``reference``, else its training data) and return its URI."""
    from loopml import models
    from loopml.data import log_dataset

    model = _fit(train, best["lr"], best["leaves"], best["iters"])
    loopml.log_params({k: best[k] for k in ("lr", "leaves", "iters")})
    log_dataset((reference if len(reference) >= 50 else train)[FEATURES], name="train")
    info = models.log_model(model, "model", input_example=train[FEATURES].head(5))
    return {"model_uri": info.model_uri, "valid_f1": best["valid_f1"]}


@pipeline
def train(rows: int = 4000, trials: int = 6, seed: int = 7):  # type: ignore[no-untyped-def]
    tr, va = split(generate(rows, seed), seed)
    return register(tr, tune_model(tr, va, trials), tr)


@pipeline
def retrain(loop: dict | None = None, trials: int = 4, min_rows: int = 200,  # type: ignore[no-untyped-def,type-arg]
            include_original: bool = False, seed: int = 11, invert_labels: bool = False):
    data, recent = collect(loop, min_rows, include_original, seed, invert_labels)
    tr, va = split(data, seed)
    return register(tr, tune_model(tr, va, trials), recent)
