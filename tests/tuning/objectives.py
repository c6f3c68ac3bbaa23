"""Objectives for the tuning tests (importable, so process and Ray workers find them)."""

from __future__ import annotations

import math
import time
from typing import Any

import loopml
from loopml.tuning import TrialPruned


def quadratic(trial: Any) -> float:
    return float((trial["x"] - 2.0) ** 2 + trial["y"])


def curve(trial: Any) -> float:
    """A learning curve whose level is set by x: high x is bad from the first step."""
    value = 0.0
    for step in range(10):
        value = trial["x"] + 1.0 / (step + 1)
        trial.report(value, step)
        if trial.should_prune():
            raise TrialPruned()
    return value


def misbehaves(trial: Any) -> Any:
    kind = trial["kind"]
    if kind == "raise":
        raise RuntimeError("objective blew up")
    if kind == "nan":
        return math.nan
    if kind == "text":
        return "not a number"
    if kind == "slow":
        time.sleep(30)
    loopml.log_metric("fluent_metric", 1.0)  # the trial's run is the active run
    return 1.0


def with_model(trial: Any) -> float:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression(C=trial["c"]).fit(X, [0, 0, 1, 1])
    trial.log_model(model)
    return float(abs(trial["c"] - 1.0))
