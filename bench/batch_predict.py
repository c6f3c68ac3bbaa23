"""Batch prediction benchmark: ``loopml predict`` vs ``mlflow models predict``, same model,
same Parquet/CSV input, same run (each as a user runs it: a fresh process, CLI start to
predictions written).

    .venv/bin/python bench/batch_predict.py [--rows 1000000] [--workers 2]

Model: scikit-learn HistGradientBoostingRegressor on 20 numeric features, saved once with
``mlflow.sklearn.save_model`` (cloudpickle) (an MLflow model folder both tools load). loopml reads the
Parquet file in chunks and writes Parquet; ``mlflow models predict --env-manager local``
reads the same rows as CSV (the formats it accepts) and writes JSON. Prints rows/s, the
ratio and each child's peak RSS (ru_maxrss). Not a timed test; on a shared 2-core machine
run it once and read the ratio, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _child(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB of that child and the workers it waited for)."""
    import os

    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if status != 0:
        raise SystemExit(f"{cmd[:4]} failed: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk-rows", type=int, default=100_000)
    args = ap.parse_args()
    import mlflow
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingRegressor

    d = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(args.rows, 20)), columns=[f"f{i}" for i in range(20)])
    model = HistGradientBoostingRegressor(max_iter=50).fit(x.head(20_000),
                                                           x.f0.head(20_000) * 2 + x.f1.head(20_000))
    # cloudpickle: a HistGradientBoosting model's tree arrays are outside skops' trusted
    # types; both tools load it as a trusted file (loopml: --trust-pickle).
    mlflow.sklearn.save_model(model, d / "model", input_example=x.head(3),
                              serialization_format="cloudpickle")
    x.to_parquet(d / "in.parquet")
    x.to_csv(d / "in.csv", index=False)
    exe = sys.executable
    lm, lm_rss = _child([exe, "-m", "loopml", "predict", str(d / "model"), "--input",
                         str(d / "in.parquet"), "--output", str(d / "out.parquet"),
                         "--workers", str(args.workers), "--chunk-rows", str(args.chunk_rows),
                         "--trust-pickle"])
    mf, mf_rss = _child([exe, "-m", "mlflow", "models", "predict", "-m", str(d / "model"),
                         "-i", str(d / "in.csv"), "-t", "csv", "-o", str(d / "out.json"),
                         "--env-manager", "local"])
    print(f"rows={args.rows} workers={args.workers} (shared machine: compare the ratio)")
    print(f"loopml predict         {args.rows / lm:12,.0f} rows/s  {lm:7.2f} s  peak RSS "
          f"{lm_rss:7.0f} MiB")
    print(f"mlflow models predict  {args.rows / mf:12,.0f} rows/s  {mf:7.2f} s  peak RSS "
          f"{mf_rss:7.0f} MiB")
    print(f"ratio loopml/mlflow: {mf / lm:.2f}x")


if __name__ == "__main__":
    main()
