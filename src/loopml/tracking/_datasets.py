"""Datasets as run inputs, in MLflow's form: name, digest, source, schema, profile.

The digest is content-based (row hashes plus column names and dtypes), so the same data
logged twice, from anywhere, gets the same digest: that is what lineage and drift reports join
on.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import orjson
import pandas as pd

from loopml.entities import Dataset, DatasetInput, InputTag


def dataset_digest(frame: pd.DataFrame) -> str:
    h = hashlib.sha256()
    h.update(orjson.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]))
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def make_dataset(data: Any, name: str = "dataset", source: str = "",
                 source_type: str = "local") -> Dataset:
    from loopml.models.signature import infer_signature

    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(np.asarray(data))
    frame.columns = [str(c) for c in frame.columns]
    schema = {"mlflow_colspec": orjson.loads(infer_signature(frame).inputs.to_json())}
    profile = {"num_rows": int(len(frame)), "num_elements": int(frame.size)}
    return Dataset(name, dataset_digest(frame), source_type, source or name,
                   orjson.dumps(schema).decode(), orjson.dumps(profile).decode())


def dataset_input(data: Any, name: str = "dataset", source: str = "",
                  context: str | None = "training") -> DatasetInput:
    tags = (InputTag("mlflow.data.context", context),) if context else ()
    return DatasetInput(make_dataset(data, name, source), tags)
