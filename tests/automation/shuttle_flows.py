"""The retraining pipeline of docs/loop-own-data.md, on river's NASA shuttle data (nine
integer sensor features, label ``anomaly``): learn from the deployment's recent labelled
traffic plus the original training rows, and log the recent traffic's profile as the new
model's reference (what the monitors compare against once it is champion)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from loopml.pipelines import pipeline, step

FEATURES = [f"f{i}" for i in range(1, 10)]
LABEL = "anomaly"


def shuttle() -> pd.DataFrame:
    """The 49,097 rows, in the file's order, as int64."""
    from river.datasets import Shuttle

    return pd.read_csv(Shuttle().path)


@step
def collect(loop: dict | None, shuffle: bool, last: int) -> pd.DataFrame:  # type: ignore[type-arg]
    from loopml.automation import labelled_traffic

    # The newest labelled requests, less the rolling holdout the gate scores on.
    recent, y = labelled_traffic(loop, features=FEATURES, last=last) if loop \
        else (pd.DataFrame(columns=FEATURES), [])
    recent = recent.assign(**{LABEL: y})
    if shuffle:  # a deliberately worse challenger: labels that mean nothing
        recent[LABEL] = recent[LABEL].sample(frac=1.0, random_state=0).to_numpy()
    return recent


@step
def register(recent: pd.DataFrame, original: str) -> dict:  # type: ignore[type-arg]
    from sklearn.ensemble import HistGradientBoostingClassifier

    from loopml import models
    from loopml.data import log_dataset

    train = pd.concat([pd.read_parquet(original), recent], ignore_index=True)
    model: Any = HistGradientBoostingClassifier(max_iter=60, random_state=0)
    model.fit(train[FEATURES], train[LABEL])
    log_dataset(recent[FEATURES], name="train")  # the traffic it will serve: the reference
    info = models.log_model(model, "model", input_example=recent[FEATURES].head(3))
    return {"model_uri": info.model_uri, "rows": len(train)}


@pipeline
def retrain(loop: dict | None = None, original: str = "train.parquet",  # type: ignore[no-untyped-def,type-arg]
            shuffle: bool = False, last: int = 400):
    register(collect(loop, shuffle, last), original)
