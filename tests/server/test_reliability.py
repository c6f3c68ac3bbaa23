"""Concurrency and crash safety of the tracking server, on real processes.

- 8 client processes x 1,000 log_batch calls at once: exact row counts, no 5xx.
- SIGKILL the server during concurrent writes, 20 times: every acknowledged write is still
  there and the database passes its integrity check.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from loopml.store.sql import SqlStore
from tests.conftest import free_port

pytestmark = pytest.mark.slow
PROCS, CALLS, PER_CALL = 8, 1000, 5


def _start(db_uri: str, artifacts: Path, workers: int = 2) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "loopml", "server", "--port", str(port), "--workers", str(workers),
         "--backend-store-uri", db_uri, "--artifacts-destination", str(artifacts)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return url, proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def _writer(url: str, run_id: str, worker: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    errors = 0
    with httpx.Client(base_url=url + "/api/2.0/mlflow", timeout=60) as c:
        for i in range(CALLS):
            metrics = [{"key": f"w{worker}", "value": float(j), "timestamp": 1, "step": i * PER_CALL + j}
                       for j in range(PER_CALL)]
            r = c.post("/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
            if r.status_code != 200:
                errors += 1
    out.put(errors)


def _hammer(db_uri: str, tmp: Path) -> None:
    url, proc = _start(db_uri, tmp / "art")
    try:
        run_id = httpx.post(url + "/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        ps = [ctx.Process(target=_writer, args=(url, run_id, w, q)) for w in range(PROCS)]
        for p in ps:
            p.start()
        for p in ps:
            p.join(600)
        errors = [q.get(timeout=10) for _ in ps]
        assert errors == [0] * PROCS
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    store = SqlStore(db_uri, str(tmp / "art"))
    for w in range(PROCS):
        assert len(store.get_metric_history(run_id, f"w{w}")) == CALLS * PER_CALL
    store.close()


def test_concurrent_log_batch_sqlite(tmp_path: Path) -> None:
    _hammer(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path)


@pytest.mark.postgres
def test_concurrent_log_batch_postgres(postgres_uri: str, tmp_path: Path) -> None:
    _hammer(postgres_uri, tmp_path)


def test_sigkill_during_writes_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    db_uri = f"sqlite:///{db}"
    acked: set[tuple[str, int]] = set()
    lock = threading.Lock()
    rng = random.Random(7)
    run_id = SqlStore(db_uri, str(tmp_path / "art")).create_run("0").info.run_id
    for round_no in range(20):
        url, proc = _start(db_uri, tmp_path / "art", workers=1)
        stop = threading.Event()

        def write(tid: int, round_no: int = round_no) -> None:
            step = 0
            with httpx.Client(base_url=url + "/api/2.0/mlflow", timeout=5) as c:
                while not stop.is_set():
                    key = f"r{round_no}t{tid}"
                    try:
                        r = c.post("/runs/log-batch", json={"run_id": run_id, "metrics": [
                            {"key": key, "value": 1.0, "timestamp": 1, "step": step}]})
                    except httpx.HTTPError:
                        return  # the server died mid-request: not acknowledged
                    if r.status_code == 200:
                        with lock:
                            acked.add((key, step))
                    step += 1

        threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.3, 1.0))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        stop.set()
        for t in threads:
            t.join(10)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = set(con.execute("SELECT key, step FROM metrics WHERE run_uuid = ?", (run_id,)).fetchall())
    con.close()
    assert acked, "no write was acknowledged: the test did not exercise anything"
    missing = acked - stored
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {sorted(missing)[:5]}"
