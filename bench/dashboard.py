"""Dashboard benchmark: the runs page of an experiment with 10,000 runs x 20 metrics.

    .venv/bin/python bench/dashboard.py [--runs 10000] [--metrics 20] [--db PATH]

Generates the experiment straight into a SQLite store (or reuses --db), starts
`loopml server` on it, and measures:
- the server's response time for the runs page (first page of 50, default order; sorted by
  a metric; filtered), median of 20 requests each after a warm-up;
- the first render in Debian's Chromium (navigation start to the load event), median of 5.

Targets (issue 8): server response <= 300 ms, first render <= 1 s. Writes
bench/results/dashboard.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).parent


def generate_bulk(db: Path, artifacts: Path, runs: int, metrics: int) -> str:
    """The same experiment written with bulk inserts into the tables the runs page reads
    (runs, latest_metrics, params, tags): minutes faster at 100k runs than the API."""
    import uuid

    import sqlalchemy as sa

    from loopml.store import _schema as t
    from loopml.store.sql import SqlStore

    store = SqlStore(f"sqlite:///{db}", str(artifacts))
    exp = store.get_experiment_by_name("dashboard-bench")
    if exp is not None:
        return exp.experiment_id
    eid = store.create_experiment("dashboard-bench")
    now = int(time.time() * 1000)
    t0 = time.perf_counter()
    for start in range(0, runs, 5000):
        ids = [uuid.uuid4().hex for _ in range(start, min(start + 5000, runs))]
        with store.engine.begin() as conn:
            conn.execute(sa.insert(t.runs), [
                {"run_uuid": rid, "experiment_id": int(eid), "name": f"run-{start + j}",
                 "user_id": "bench", "status": "FINISHED", "start_time": now + start + j,
                 "end_time": now + start + j + 1, "lifecycle_stage": "active",
                 "artifact_uri": f"{artifacts}/{eid}/{rid}/artifacts"}
                for j, rid in enumerate(ids)])
            conn.execute(sa.insert(t.latest_metrics), [
                {"run_uuid": rid, "key": f"m{k}", "value": ((start + j) * 31 + k * 7) % 1000 / 1000,
                 "value_kind": 0, "timestamp": now, "step": 0}
                for j, rid in enumerate(ids) for k in range(metrics)])
            conn.execute(sa.insert(t.params), [
                {"run_uuid": rid, "key": key, "value": v}
                for j, rid in enumerate(ids)
                for key, v in (("lr", str(((start + j) % 10) / 100)), ("depth", str((start + j) % 8)))])
            conn.execute(sa.insert(t.tags), [
                {"run_uuid": rid, "key": "mlflow.runName", "value": f"run-{start + j}"}
                for j, rid in enumerate(ids)])
        print(f"  generated {start + len(ids)} runs ({time.perf_counter() - t0:.0f}s)", flush=True)
    store.close()
    return eid


def generate(db: Path, artifacts: Path, runs: int, metrics: int) -> str:
    from loopml.entities import Metric, Param
    from loopml.store.sql import SqlStore

    store = SqlStore(f"sqlite:///{db}", str(artifacts))
    exp = store.get_experiment_by_name("dashboard-bench")
    if exp is not None:
        return exp.experiment_id
    eid = store.create_experiment("dashboard-bench")
    t = time.perf_counter()
    now = int(time.time() * 1000)
    for i in range(runs):
        r = store.create_run(eid, user_id="bench", start_time=now + i, tags=[],
                             run_name=f"run-{i}")
        store.log_batch(r.info.run_id,
                        metrics=[Metric(f"m{k}", (i * 31 + k * 7) % 1000 / 1000, now, 0)
                                 for k in range(metrics)],
                        params=[Param("lr", str((i % 10) / 100)), Param("depth", str(i % 8))])
        if (i + 1) % 2000 == 0:
            print(f"  generated {i + 1} runs ({time.perf_counter() - t:.0f}s)", flush=True)
    store.close()
    return eid


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--metrics", type=int, default=20)
    ap.add_argument("--db", type=Path, default=None)
    ap.add_argument("--bulk", action="store_true",
                    help="Generate with bulk inserts (use for 100k runs) instead of the API.")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="loopml-dash-"))
    db = args.db or folder / "loopml.db"
    print(f"== {args.runs} runs x {args.metrics} metrics in {db} ==")
    eid = (generate_bulk if args.bulk else generate)(db, folder / "artifacts", args.runs,
                                                      args.metrics)
    port = 5000 + os.getpid() % 1000
    proc = subprocess.Popen([sys.executable, "-m", "loopml", "server", "--port", str(port),
                             "--backend-store-uri", f"sqlite:///{db}",
                             "--artifacts-destination", str(folder / "artifacts"),
                             "--no-triggers"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    results: dict[str, float] = {}
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        urls = {
            "runs page (default order)": f"/ui/experiments/{eid}",
            "runs page sorted by a metric": f"/ui/experiments/{eid}?order_by=metrics.m3%20DESC",
            "runs page filtered + sorted": f"/ui/experiments/{eid}?filter=metrics.m1%20%3E%200.5"
                                           "%20AND%20params.depth%20%3D%20%273%27"
                                           "&order_by=metrics.m2%20ASC",
        }
        with httpx.Client(timeout=60) as c:
            for name, path in urls.items():
                c.get(base + path)
                times = []
                for _ in range(20):
                    t = time.perf_counter()
                    r = c.get(base + path)
                    times.append((time.perf_counter() - t) * 1000)
                    assert r.status_code == 200
                results[name] = statistics.median(times)
                print(f"  server {name:<32} {results[name]:7.1f} ms (median of 20)")
            # Pagination: follow next-page links 20 pages deep and time the last one.
            import re

            path = f"/ui/experiments/{eid}"
            for _ in range(20):
                m = re.search(r'id="next-page" href="([^"]+)"', c.get(base + path).text)
                assert m, "no next page"
                path = f"/ui/experiments/{eid}" + m.group(1).replace("&amp;", "&")
            times = []
            for _ in range(10):
                t = time.perf_counter()
                c.get(base + path)
                times.append((time.perf_counter() - t) * 1000)
            results["runs page 21 (pagination)"] = statistics.median(times)
            print(f"  server runs page 21 (pagination)        {results['runs page 21 (pagination)']:7.1f} ms")
        chromium = "/usr/bin/chromium"
        if Path(chromium).exists():
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                b = p.chromium.launch(executable_path=chromium, headless=True, args=[
                    "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
                renders = []
                for _ in range(5):
                    ctx = b.new_context()
                    page = ctx.new_page()
                    page.goto(f"{base}/ui/experiments/{eid}", wait_until="load")
                    renders.append(page.evaluate(
                        "performance.getEntriesByType('navigation')[0].loadEventEnd"))
                    ctx.close()
                b.close()
            results["first render in Chromium"] = statistics.median(renders)
            print(f"  Chromium first render (navigation -> load) {results['first render in Chromium']:7.1f} ms (median of 5)")
        ok = max(v for k, v in results.items() if k.startswith("runs page")) <= 300 and \
            results.get("first render in Chromium", 0) <= 1000
        print(f"  targets for 10k runs (server <= 300 ms, render <= 1 s): "
              f"{'met' if ok else 'NOT met'}{'' if args.runs <= 10_000 else ' (this is ' + str(args.runs) + ' runs)'}")
    finally:
        proc.terminate()
        proc.wait(20)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "dashboard.json").write_text(json.dumps(
        {"runs": args.runs, "metrics": args.metrics, **results}, indent=2))


if __name__ == "__main__":
    main()
