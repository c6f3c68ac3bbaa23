"""loopml's offline sync (the ``offline_parquet`` sink) against bare pyarrow writing the same
partitioned files, same run (issue 18, G15).

    PYTHONPATH=src python bench/offline_sync.py [--rows 2000000] [--batch 50000] [--register]

Workload (research/streaming.md §4.2): sensor rows (machine, temp, vib, fail, _time), one
event per 0.5 ms across several hours, synced in ``--batch``-row micro-batches. loopml: each
batch is one ``OfflineParquetSink.write`` (split by event-time hour, zstd Parquet, offset-named
file, temp name + rename, checkpoint; with ``--register`` also a dataset version per
partition in a temporary embedded store). Peer: the same split and ``pyarrow.parquet.
write_table`` (zstd) straight to the final names (no rename, no checkpoint): the anchor the
research measured at 1.33M rows/s on one core. Reported: rows/s per core (rows / the process
CPU seconds of the writes: stays meaningful on a loaded, shared machine), rows/s wall, and
the sync lag per batch (from the batch being handed over to ``write`` returning; the lag a
broker sees before its ack), p50/p99. Median of 3 runs. Goal: >= 1M rows/s per core, lag
<= 60 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

from loopml.features.sinks.offline import OfflineParquetSink, partitions  # noqa: E402


def make_batches(rows: int, batch: int) -> list[pa.Table]:
    rng = np.random.default_rng(7)
    t0 = 1_767_225_600_000  # 2026-01-01
    out = []
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        out.append(pa.table({
            "machine": pa.array([f"m{i}" for i in rng.integers(0, 200, n)]),
            "temp": rng.normal(70, 5, n), "vib": rng.random(n),
            "fail": (rng.random(n) < 0.01).astype(np.int8),
            "_time": t0 + (start + np.arange(n, dtype=np.int64)) // 2}))
    return out


def run_loopml(batches: list[pa.Table], root: str, register: bool) -> tuple[float, float, list[float]]:
    sink = OfflineParquetSink("bench", root, table="raw", register=register)
    lags = []
    c0, w0 = time.process_time(), time.perf_counter()
    for i, b in enumerate(batches):
        t = time.perf_counter()
        sink.write(b, {"sensors": f"{i}-0"})
        lags.append(time.perf_counter() - t)
    return time.process_time() - c0, time.perf_counter() - w0, lags


def run_pyarrow(batches: list[pa.Table], root: str) -> tuple[float, float, list[float]]:
    lags = []
    c0, w0 = time.process_time(), time.perf_counter()
    for i, b in enumerate(batches):
        t = time.perf_counter()
        for part, idx in partitions(b).items():
            d = Path(root, "raw", part)
            d.mkdir(parents=True, exist_ok=True)
            pq.write_table(b.take(pa.array(idx)), d / f"sensors-{i}-0.parquet", compression="zstd")
        lags.append(time.perf_counter() - t)
    return time.process_time() - c0, time.perf_counter() - w0, lags


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--register", action="store_true", help="register dataset versions (temporary store)")
    a = ap.parse_args()
    batches = make_batches(a.rows, a.batch)
    tmp = tempfile.mkdtemp(prefix="offline-sync-")
    if a.register:
        os.environ["LOOPML_HOME"] = str(Path(tmp, "home"))
        os.environ.pop("LOOPML_TRACKING_URI", None)
    res: dict[str, list[tuple[float, float, list[float]]]] = {"loopml offline_parquet": [], "pyarrow write_table": []}
    for r in range(a.runs):
        for name in res:
            root = str(Path(tmp, f"{name.split()[0]}-{r}"))
            res[name].append(run_loopml(batches, root, a.register) if name.startswith("loopml")
                             else run_pyarrow(batches, root))
            shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"{a.rows:,} rows in {len(batches)} batches of {a.batch:,}; median of {a.runs} runs"
          + (" (with dataset registration)" if a.register else ""))
    per_core = {}
    for name, runs in res.items():
        cpu = statistics.median(r[0] for r in runs)
        wall = statistics.median(r[1] for r in runs)
        lags = sorted(x for r in runs for x in r[2])
        per_core[name] = a.rows / cpu
        print(f"{name:24} {a.rows / cpu:>12,.0f} rows/s per core  {a.rows / wall:>12,.0f} rows/s wall  "
              f"lag p50 {statistics.median(lags) * 1000:7.1f} ms  p99 {lags[int(len(lags) * 0.99) - 1] * 1000:7.1f} ms")
    ratio = per_core["loopml offline_parquet"] / per_core["pyarrow write_table"]
    print(f"loopml / bare pyarrow (per core): {ratio:.2f}x; goal >= 1,000,000 rows/s per core, lag <= 60 s")


if __name__ == "__main__":
    main()
