"""Retraining pipelines for the loop tests: a good challenger (trained on the recalibrated
sensors), a bad one, and a slow one (for the crash test)."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from loopml.demo.scenario import FEATURES, LABEL, sensors
from loopml.pipelines import pipeline, step


def fit_and_log(data: pd.DataFrame, kind: str) -> dict:  # type: ignore[type-arg]
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import HistGradientBoostingClassifier

    from loopml import models
    from loopml.data import log_dataset

    model: Any = DummyClassifier(strategy="most_frequent") if kind == "bad" else \
        HistGradientBoostingClassifier(max_iter=60, class_weight="balanced", random_state=0)
    model.fit(data[FEATURES], data[LABEL])
    log_dataset(data[FEATURES], name="train")
    info = models.log_model(model, "model", input_example=data[FEATURES].head(3))
    return {"model_uri": info.model_uri}


@step
def register(kind: str, rows: int, pause: float) -> dict:  # type: ignore[type-arg]
    time.sleep(pause)
    return fit_and_log(sensors(rows, 5, day=60, recalibrated=True), kind)


@pipeline
def retrain(kind: str = "good", rows: int = 1500, pause: float = 0.0,  # type: ignore[no-untyped-def]
            loop: dict | None = None):  # type: ignore[type-arg]
    register(kind, rows, pause)
