"""Model benchmark: load time and predict latency, in one run, on the same model folders.

    .venv/bin/python bench/models.py [--quick]

1. Native vs ONNX Runtime (loopml.models.load(..., flavor="onnx")) for a
   HistGradientBoostingClassifier and an LGBMClassifier trained on scikit-learn's breast-cancer
   data: load time, 1-row predict latency (median) and 1,000-row predict latency (median).
2. mlflow.pyfunc.load_model + predict vs loopml.models.load + predict on the same folder
   (the one loopml saved, which MLflow reads too).

Prints a table with the ratios and writes bench/results/models.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
warnings.filterwarnings("ignore")


def median_ms(fn: Callable[[], Any], repeat: int, warm_up: bool = True) -> float:
    """Median wall time of ``fn`` in ms. Predict timings warm up first (lazy imports,
    first-call allocations); load timings do not, since a cold load is what they measure."""
    if warm_up:
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def load_ms(fn: Callable[[], Any], repeat: int) -> float:
    return median_ms(fn, repeat, warm_up=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = ap.parse_args()
    reps, load_reps = (50, 3) if args.quick else (300, 7)

    import lightgbm as lgb
    import mlflow
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier

    from loopml import models
    from loopml.models.onnx_export import to_onnx

    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    rows1000 = pd.concat([x] * 2, ignore_index=True).iloc[:1000]
    row1 = x.iloc[:1]
    tmp = Path(tempfile.mkdtemp(prefix="loopml-bench-models-"))
    results: dict[str, Any] = {"rows": {"single": 1, "batch": len(rows1000)}, "models": {}}

    trained = {
        "HistGradientBoosting": HistGradientBoostingClassifier(max_iter=100).fit(x, y),
        "LightGBM": lgb.LGBMClassifier(n_estimators=100, verbose=-1).fit(x, y),
    }
    lines = []
    for name, clf in trained.items():
        folder = tmp / name
        models.save_model(clf, folder, input_example=x[:50])
        parity = to_onnx(str(folder))
        assert parity.converted, parity.reason
        r: dict[str, Any] = {"onnx_parity": parity.to_dict()}
        native = models.load(str(folder))
        onnx = models.load(str(folder), flavor="onnx")
        r["native_load_ms"] = load_ms(lambda f=folder: models.load(str(f)), load_reps)
        r["onnx_load_ms"] = load_ms(lambda f=folder: models.load(str(f), flavor="onnx"), load_reps)
        r["native_1row_ms"] = median_ms(lambda m=native: m.predict(row1), reps)
        r["onnx_1row_ms"] = median_ms(lambda m=onnx: m.predict(row1), reps)
        r["native_1000row_ms"] = median_ms(lambda m=native: m.predict(rows1000), max(reps // 10, 5))
        r["onnx_1000row_ms"] = median_ms(lambda m=onnx: m.predict(rows1000), max(reps // 10, 5))
        # Raw model calls without loopml's signature check, to show what the check costs.
        arr1 = row1.to_numpy()
        r["raw_native_1row_ms"] = median_ms(lambda c=clf: c.predict(row1), reps)
        r["raw_onnx_1row_ms"] = median_ms(
            lambda s=onnx.native: s.predict(arr1.astype(np.float32)), reps)
        # MLflow's pyfunc on the same folder.
        r["mlflow_load_ms"] = load_ms(lambda f=folder: mlflow.pyfunc.load_model(str(f)), load_reps)
        pyfunc = mlflow.pyfunc.load_model(str(folder))
        r["mlflow_1row_ms"] = median_ms(lambda p=pyfunc: p.predict(row1), reps)
        r["mlflow_1000row_ms"] = median_ms(lambda p=pyfunc: p.predict(rows1000), max(reps // 10, 5))
        results["models"][name] = r
        lines += [
            f"{name}",
            f"  load           native {r['native_load_ms']:8.1f} ms   onnx {r['onnx_load_ms']:8.1f} ms"
            f"   native/onnx {r['native_load_ms'] / r['onnx_load_ms']:5.1f}x",
            f"  predict 1 row  native {r['native_1row_ms']:8.3f} ms   onnx {r['onnx_1row_ms']:8.3f} ms"
            f"   native/onnx {r['native_1row_ms'] / r['onnx_1row_ms']:5.1f}x",
            f"  predict 1000   native {r['native_1000row_ms']:8.3f} ms   onnx {r['onnx_1000row_ms']:8.3f} ms"
            f"   native/onnx {r['native_1000row_ms'] / r['onnx_1000row_ms']:5.1f}x",
            f"  raw 1 row (no signature check)  native {r['raw_native_1row_ms']:.3f} ms   "
            f"onnx {r['raw_onnx_1row_ms']:.3f} ms",
            f"  load           mlflow.pyfunc {r['mlflow_load_ms']:8.1f} ms   loopml {r['native_load_ms']:8.1f} ms"
            f"   mlflow/loopml {r['mlflow_load_ms'] / r['native_load_ms']:5.1f}x",
            f"  predict 1 row  mlflow.pyfunc {r['mlflow_1row_ms']:8.3f} ms   loopml {r['native_1row_ms']:8.3f} ms"
            f"   mlflow/loopml {r['mlflow_1row_ms'] / r['native_1row_ms']:5.1f}x"
            f"   (loopml onnx: {r['mlflow_1row_ms'] / r['onnx_1row_ms']:.1f}x)",
            f"  predict 1000   mlflow.pyfunc {r['mlflow_1000row_ms']:8.3f} ms   loopml {r['native_1000row_ms']:8.3f} ms"
            f"   mlflow/loopml {r['mlflow_1000row_ms'] / r['native_1000row_ms']:5.1f}x",
            f"  onnx parity: label agreement {parity.label_agreement}, max abs diff "
            f"{parity.max_abs_diff:.2g} on {parity.rows} rows",
        ]
    print("\n".join(lines))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "models.json").write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out / 'models.json'}")


if __name__ == "__main__":
    sys.exit(main())
