"""What one worker process does: load the model once, then score chunks and write each as
its own Parquet part (temporary name, then renamed: a part exists whole or not at all)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

_MODEL: Any = None
_KEEP: list[str] = []
_INPUTS: list[str] = []

#: Pinned per worker: K workers x N BLAS/OpenMP threads on K cores would oversubscribe.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def init(folder: str, trusted: bool, flavor: str | None, inputs: list[str],
         keep: list[str]) -> None:
    """Process initialiser: load the model from its local folder (once per worker)."""
    global _MODEL, _KEEP, _INPUTS
    from loopml.models._load import load_folder

    _MODEL = load_folder(Path(folder), trusted, flavor)
    _INPUTS, _KEEP = inputs, keep


def predictions_table(preds: Any, request_ids: list[str], kept: dict[str, Any]) -> Any:
    """request_id, the kept input columns, then ``prediction`` (1-D output) or
    ``prediction_0..k`` (2-D output) or the output frame's own columns."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    cols: dict[str, Any] = {"request_id": pa.array(request_ids, pa.string())}
    cols.update(kept)
    if isinstance(preds, pd.DataFrame):
        for c in preds.columns:
            cols[str(c)] = pa.array(preds[c].to_numpy())
    else:
        arr = np.asarray(preds)
        if arr.ndim == 1:
            cols["prediction"] = pa.array(arr)
        else:
            for i in range(arr.shape[1]):
                cols[f"prediction_{i}"] = pa.array(arr[:, i])
    return pa.table(cols)


def score(job: str, index: int, batch: Any, parts_dir: str) -> dict[str, Any]:
    """Score chunk ``index`` (a record batch), write ``part-<index>.parquet`` and return what
    the inference log records: request id, the predictions, the latency."""
    import numpy as np
    import pyarrow.parquet as pq

    assert _MODEL is not None, "init() was not called"
    frame = batch.select(_INPUTS).to_pandas()
    start = time.perf_counter()
    preds = _MODEL.predict(frame)
    latency_ms = (time.perf_counter() - start) * 1000
    request_id = f"{job}-{index:06d}"
    ids = [f"{request_id}-{i}" for i in range(batch.num_rows)]
    table = predictions_table(preds, ids, {k: batch.column(k) for k in _KEEP})
    final = Path(parts_dir, f"part-{index:06d}.parquet")
    tmp = final.with_name(f".{final.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, final)
    out = np.asarray(preds) if not hasattr(preds, "to_numpy") else preds.to_numpy()
    return {"index": index, "request_id": request_id, "rows": batch.num_rows,
            "latency_ms": latency_ms, "outputs": out}


def ray_score(args: tuple[Any, ...], job: str, index: int, batch: Any,
              parts_dir: str) -> dict[str, Any]:
    """``score`` as a Ray task: a Ray worker process is reused across tasks, so the model
    is loaded on its first chunk of this job and kept (Ray pins OMP_NUM_THREADS to the
    task's num_cpus, 1)."""
    global _LOADED
    if args != _LOADED:
        init(*args)
        _LOADED = args
    return score(job, index, batch, parts_dir)


_LOADED: Any = None
