"""loopml's AutoML (``loopml build``) against FLAML under the same wall-clock budget, and the
time from a CSV to a deployed endpoint answering.

    PYTHONPATH=src python bench/automl.py [--budget 30] [--skip-endpoint] [--rows 100000]

1. Four data sets that ship inside packages: scikit-learn's breast cancer (binary), digits
   (8x8 images as 64 tabular features, 10 classes), river's shuttle sensor data (binary,
   58k rows -> 49k in river's CSV) and scikit-learn's diabetes (regression). Each is split
   once, 80/20 stratified, without replacement (seed 0). loopml builds on the 80 % CSV
   (``test_size=0``: it fits on all of it, as FLAML retrains on all of it) with
   ``budget_s=B`` and no latency budget; FLAML's ``AutoML.fit`` gets ``time_budget=B``,
   metric accuracy / r2. Both use one thread (``n_jobs=1`` / loopml's own limit). Scores
   are on the same 20 % held out; the wall clock of each side is printed (loopml's includes
   its checks, refits, latency measurement, registration and deployment).
2. ``--rows`` synthetic rows (20 numeric features, binary) as a CSV -> ``loopml build`` with
   the default budget -> ``loopml serve --serve-deployment`` -> the first answer of the
   printed curl request: seconds from the start of the build.

FLAML is a dev dependency (``flaml==2.8.0``, pure Python over the same scikit-learn,
LightGBM and XGBoost); the machine's 1-minute load average is printed at start and end.
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _datasets() -> dict[str, tuple[pd.DataFrame, str, str]]:
    import river.datasets
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits

    out: dict[str, tuple[pd.DataFrame, str, str]] = {}
    bc = load_breast_cancer(as_frame=True).frame
    out["breast_cancer"] = (bc, "target", "binary")
    dg = load_digits(as_frame=True).frame
    out["digits"] = (dg, "target", "multiclass")
    path = Path(river.datasets.__file__).parent / "shuttle.csv.gz"
    with gzip.open(path) as f:
        out["shuttle"] = (pd.read_csv(f), "anomaly", "binary")
    db = load_diabetes(as_frame=True).frame
    out["diabetes"] = (db, "target", "regression")
    return out


def _score(task: str, y: Any, pred: Any) -> float:
    from sklearn.metrics import accuracy_score, r2_score

    return float(r2_score(y, pred) if task == "regression" else accuracy_score(y, pred))


def _loopml(train: pd.DataFrame, test: pd.DataFrame, target: str, task: str, budget: float,
            work: Path, name: str) -> tuple[float, float, dict[str, Any]]:
    from loopml import automl, models

    csv = work / f"{name}.csv"
    train.to_csv(csv, index=False)
    t = time.perf_counter()
    res = automl.build(str(csv), target, task=task, budget_s=budget, test_size=0.0,
                       name=name, calls=50)
    wall = time.perf_counter() - t
    if not res.deployed:
        print(f"  loopml deployed nothing for {name}: {res.selection_message}")
        return float("nan"), wall, {"trials": res.trials, "chosen": None, "ensemble": False}
    model = models.load(str(res.model_uri))
    # Columns the checks dropped (constant, ID-like) are not in the model's signature.
    pred = model.predict(test[res.report["features"]])
    pred = np.asarray(pred["predict"] if isinstance(pred, dict) else pred).reshape(len(test))
    return _score(task, test[target], pred), wall, {"trials": res.trials, "chosen": res.chosen,
                                                    "ensemble": res.ensemble}


def _flaml(train: pd.DataFrame, test: pd.DataFrame, target: str, task: str,
           budget: float) -> tuple[float, float, str]:
    from flaml import AutoML

    automl = AutoML()
    t = time.perf_counter()
    automl.fit(train.drop(columns=[target]), train[target], time_budget=budget,
               task="regression" if task == "regression" else "classification",
               metric="r2" if task == "regression" else "accuracy", n_jobs=1, verbose=0,
               seed=0)
    wall = time.perf_counter() - t
    return _score(task, test[target], automl.predict(test.drop(columns=[target]))), wall, \
        str(automl.best_estimator)


def compare(budget: float, only: list[str] | None) -> None:
    from sklearn.model_selection import train_test_split

    print(f"{'data':14} {'rows':>6} {'budget':>6}  {'loopml':>7} {'(wall s)':>8}  "
          f"{'FLAML':>7} {'(wall s)':>8}  {'ratio':>6}  notes")
    with tempfile.TemporaryDirectory(prefix="bench-automl-") as tmp:
        os.environ["LOOPML_HOME"] = str(Path(tmp) / "home")
        for name, (frame, target, task) in _datasets().items():
            if only and name not in only:
                continue
            strat = None if task == "regression" else frame[target]
            train, test = train_test_split(frame, test_size=0.2, random_state=0, stratify=strat)
            ls, lw, info = _loopml(train, test, target, task, budget, Path(tmp), name)
            fs, fw, best = _flaml(train, test, target, task, budget)
            ratio = ls / fs if fs else float("nan")
            verdict = ">=" if ls >= fs else "<"
            print(f"{name:14} {len(frame):6d} {budget:6.0f}  {ls:7.4f} {lw:8.1f}  {fs:7.4f} "
                  f"{fw:8.1f}  {ratio:6.4f}  loopml {verdict} FLAML; loopml {info['chosen']} "
                  f"({info['trials']} trials, ensemble {'won' if info['ensemble'] else 'lost'})"
                  f", FLAML {best}", flush=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def endpoint(rows: int) -> None:
    import json

    import httpx
    from sklearn.datasets import make_classification

    with tempfile.TemporaryDirectory(prefix="bench-automl-e2e-") as tmp:
        x, y = make_classification(rows, 20, n_informative=10, random_state=0)
        frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(20)]).assign(y=y)
        csv = Path(tmp) / "synthetic.csv"
        frame.to_csv(csv, index=False)
        env = {**os.environ, "LOOPML_HOME": str(Path(tmp) / "home")}
        env.pop("LOOPML_TRACKING_URI", None)
        port = _free_port()
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "loopml", "build", str(csv),
                              "--target-column", "y", "--port", str(port), "--json"],
                             env=env, capture_output=True, text=True)
        t_build = time.perf_counter() - t0
        if out.returncode != 0:
            print(f"build failed ({out.returncode}): {out.stderr[-2000:]}")
            return
        res = json.loads(out.stdout)
        serve = subprocess.Popen([sys.executable, "-m", "loopml", "serve",
                                  "--serve-deployment", res["name"], "--port", str(port),
                                  "--grpc-port", "0"], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            body = json.loads(res["curl"].split(" -d '", 1)[1].rstrip("'"))
            answered = None
            while time.perf_counter() - t0 < 900 and serve.poll() is None:
                try:
                    r = httpx.post(res["endpoint"], json=body, timeout=5)
                    if r.status_code == 200:
                        answered = r.json()
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            total = time.perf_counter() - t0
        finally:
            serve.terminate()
            serve.wait(30)
        print(f"CSV ({rows} rows x 20) -> endpoint answering: {total:.1f} s (build {t_build:.1f} s"
              f", default budget 120 s, {res['trials']} trials, chose {res['chosen']}, "
              f"{res['metric']} {res['validation_score']:.4f}); answer: "
              f"{json.dumps(answered)[:120]}; goal <= 300 s: {'yes' if total <= 300 else 'no'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", type=float, default=30.0, help="seconds per data set and tool")
    ap.add_argument("--only", nargs="*", help="data sets to run (default: all four)")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--skip-endpoint", action="store_true")
    ap.add_argument("--skip-compare", action="store_true")
    a = ap.parse_args()
    print(f"load average at start: {os.getloadavg()}; cores: {os.cpu_count()}")
    if not a.skip_compare:
        compare(a.budget, a.only)
    if not a.skip_endpoint:
        endpoint(a.rows)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
