"""Drift benchmark: loopml vs Evidently (DataDriftPreset), same data, same run.

    .venv/bin/python bench/drift.py [--quick] [--sizes 100000,1000000]

Data: N x 20 numeric columns, reference ~ N(0, 1) and a current table where half the columns
are shifted by 0.5 standard deviations, written once to Parquet (bench/data/). Each tool runs
in its own fresh subprocess that reads the two Parquet files and computes a full drift
report, so wall time includes reading, and peak RSS (ru_maxrss of the child) is each tool's
own. Evidently 0.7.23 needs pandas<3, so it runs from its own venv, bench/.venv-evidently,
which this script creates on first use (from the local package index).

Also measures loopml's profiling throughput (rows/s over 20 columns, data in memory).
Prints a table with the ratios and writes bench/results/drift.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
EVIDENTLY_VENV = HERE / ".venv-evidently"
EVIDENTLY_VERSION = "0.7.23"
COLUMNS = 20

LOOPML_JOB = """
import json, resource, sys, time
t = time.perf_counter()
from loopml import data
r = data.detect_drift(sys.argv[1], sys.argv[2])
wall = time.perf_counter() - t
print(json.dumps({"wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "drifted": len(r.drifted_columns), "tests": sorted({c.test for c in r.columns})}))
"""

EVIDENTLY_JOB = """
import json, resource, sys, time
t = time.perf_counter()
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
ref = pd.read_parquet(sys.argv[1]); cur = pd.read_parquet(sys.argv[2])
snap = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
res = snap.dict()
wall = time.perf_counter() - t
drifted = None
for m in res.get("metrics", []):
    if str(m.get("metric_name", "")).startswith("DriftedColumnsCount"):
        drifted = int(m["value"]["count"])
print(json.dumps({"wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "drifted": drifted}))
"""


def ensure_evidently() -> Path:
    py = EVIDENTLY_VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", f"evidently=={EVIDENTLY_VERSION}",
                        "pandas<3", "pyarrow"], check=True)
    return py


def make_data(n: int) -> tuple[Path, Path]:
    import numpy as np
    import pandas as pd

    d = HERE / "data"
    d.mkdir(exist_ok=True)
    ref_p, cur_p = d / f"ref_{n}.parquet", d / f"cur_{n}.parquet"
    if not ref_p.exists():
        rng = np.random.default_rng(42)
        ref = pd.DataFrame({f"f{i}": rng.normal(0, 1, n) for i in range(COLUMNS)})
        cur = pd.DataFrame({f"f{i}": rng.normal(0.5 if i < COLUMNS // 2 else 0, 1, n)
                            for i in range(COLUMNS)})
        ref.to_parquet(ref_p)
        cur.to_parquet(cur_p)
    return ref_p, cur_p


def run_job(python: str, code: str, ref: Path, cur: Path) -> dict:
    out = subprocess.run([python, "-c", code, str(ref), str(cur)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def profiling_rate(n: int) -> float:
    import numpy as np
    import pandas as pd

    from loopml import data

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"f{i}": rng.normal(size=n) for i in range(COLUMNS)})
    data.profile(frame.head(1000))  # warm up
    t = time.perf_counter()
    data.profile(frame)
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="100k rows only")
    ap.add_argument("--sizes", default=None, help="comma-separated row counts")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else (
        [100_000] if args.quick else [100_000, 1_000_000])
    evidently = ensure_evidently()
    results: dict = {"columns": COLUMNS, "evidently": EVIDENTLY_VERSION, "runs": {}}
    lines = []
    for n in sizes:
        ref, cur = make_data(n)
        lo = run_job(sys.executable, LOOPML_JOB, ref, cur)
        ev = run_job(str(evidently), EVIDENTLY_JOB, ref, cur)
        results["runs"][n] = {"loopml": lo, "evidently": ev}
        lines.append(
            f"{n:>9,} x {COLUMNS}: loopml {lo['wall_s']:7.2f} s {lo['peak_rss_mb']:7.0f} MB "
            f"(drifted {lo['drifted']})   evidently {ev['wall_s']:7.2f} s "
            f"{ev['peak_rss_mb']:7.0f} MB (drifted {ev['drifted']})   speed-up "
            f"{ev['wall_s'] / lo['wall_s']:5.1f}x   memory {lo['peak_rss_mb'] / ev['peak_rss_mb']:.2f}"
            " of evidently's")
    rate = profiling_rate(1_000_000)
    results["profiling_rows_per_s"] = rate
    lines.append(f"profiling: {rate / 1e6:.2f} M rows/s over {COLUMNS} numeric columns")
    print("\n".join(lines))
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "drift.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {out / 'drift.json'}")


if __name__ == "__main__":
    main()
