"""``kill -9`` of ``loopml serve`` under load loses no acknowledged request from the
inference log (the bound docs/serving.md states: every answered request was appended to the
write-ahead file before its answer was sent)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from loopml.inference_log import InferenceLogReader, InferenceLogWriter, features
from tests.conftest import free_port


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    from sklearn.linear_model import LogisticRegression

    from loopml import models

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"age": rng.integers(18, 90, 200).astype("int64"),
                          "income": rng.normal(size=200)})
    y = (frame.income > 0).astype(int)
    root = tmp_path_factory.mktemp("kill-model") / "m"
    models.save_model(LogisticRegression().fit(frame, y), root, input_example=frame[:5])
    return root


def _load(url: str, acked: list[str], errors: list[str], stop: threading.Event) -> None:
    body = {"dataframe_records": [{"age": 42, "income": 0.5}]}
    with httpx.Client(base_url=url, timeout=5) as c:
        while not stop.is_set():
            rid = uuid.uuid4().hex
            try:
                r = c.post("/invocations", json=body, headers={"x-request-id": rid})
            except httpx.HTTPError:
                return  # the server is gone
            if r.status_code == 200:
                acked.append(rid)  # acknowledged: the client has the answer
            else:
                errors.append(r.text)


def test_kill_9_under_load_loses_no_acknowledged_request(model_dir, tmp_path) -> None:
    port, log_dir = free_port(), tmp_path / "ilog"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
           "LOOPML_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "loopml", "serve", str(model_dir), "--port", str(port),
         "--grpc-port", "0", "--inference-log", str(log_dir), "--log-flush-ms", "200"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.time() < deadline, \
                proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.2)
        acked: list[str] = []
        errors: list[str] = []
        stop = threading.Event()
        threads = [threading.Thread(target=_load, args=(url, acked, errors, stop)) for _ in range(8)]
        for t in threads:
            t.start()
        # Several Parquet compactions (every 200 ms) run under load; more records are in
        # flight when the kill lands.
        start = time.time()
        while time.time() - start < 2 or (len(acked) < 300 and time.time() - start < 20):
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        stop.set()
        for t in threads:
            t.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert len(acked) > 20, f"no load reached the server: {errors[:1]}"
    w = InferenceLogWriter(log_dir)  # what a restarted server does first: recover
    w.close()
    rows = InferenceLogReader(log_dir).read("default")
    lost = set(acked) - set(rows.request_id)
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged requests are not in the log"
    assert features(rows.inputs[:1]).age.dtype == np.int64  # typed, as the model got it
