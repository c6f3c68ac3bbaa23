"""A real Prometheus (Debian's ``prometheus``) scraping a real ``loopml server --workers 2``
and ``loopml serve --workers 2`` every second, with traffic and a seeded store (a monitor's
window with drift and quality, a firing alert, a loop that changed state)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import free_port

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
INFER_OK, INFER_BAD, SERVER_CALLS = 40, 5, 12


@dataclass
class Stack:
    prometheus: str
    server: str
    serve: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def query(self, promql: str) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.prometheus}/api/v1/query", params={"query": promql}, timeout=10)
        assert r.status_code == 200, f"{promql}: {r.text}"
        body = r.json()
        assert body["status"] == "success", body
        return body["data"]["result"]


def need_prometheus() -> None:
    if not os.access(PROMETHEUS, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus is not installed (.ci/run installs Debian's package)")
        pytest.skip("prometheus is not installed: apt-get install -y prometheus")


def _seed(uri: str, artifacts: str) -> None:
    from loopml.store import get_loop_store, get_monitoring_store, get_store
    from loopml.store.loops_base import EVALUATING, RETRAINING, Loop
    from loopml.store.monitoring_base import AlertState, WindowResult

    tracking = get_store(uri, artifacts)
    mon = get_monitoring_store(tracking)
    now = int(time.time() * 1000)
    mon.put_result(WindowResult("fraud-live", now - 60_000, now, {
        "drift.share_drifted": 0.25, "quality.accuracy": 0.91, "latency.p99_ms": 4.5}))
    mon.put_alert_state("fraud-live", "drift", "*", None,
                        AlertState(streak=3, firing=True, last_window=now))
    loops = get_loop_store(tracking)
    loops.create_loop(Loop("loop-1", "fraud", "fraud-policy", RETRAINING), "triggered", {})
    loops.advance("loop-1", RETRAINING, "trained", "challenger ready", {}, state=EVALUATING)


def _model(root: Path) -> Path:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from loopml import models

    x = np.random.default_rng(0).normal(size=(64, 4))
    y = (x[:, 0] > 0).astype(int)
    models.save_model(LogisticRegression().fit(x, y), root / "m", input_example=x[:3])
    return root / "m"


def _wait(url: str, deadline: float, procs: list[subprocess.Popen[bytes]]) -> None:
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"{p.args!r} exited with {p.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready in time")


def _popen(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def start_stack(tmp: Path) -> Iterator[Stack]:
    need_prometheus()
    uri, art = f"sqlite:///{tmp / 'loopml.db'}", str(tmp / "artifacts")
    _seed(uri, art)
    (tmp / "monitors.yaml").write_text(yaml.safe_dump([{
        "name": "fraud-live", "deployment": "fraud", "log_dir": str(tmp / "ilog"),
        "window_seconds": 3600}]))
    sp, vp, pp = free_port(), free_port(), free_port()
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "LOOPML_HOME": str(tmp / "home")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # loopml makes its own
    loopml = [sys.executable, "-m", "loopml"]
    procs = [
        _popen([*loopml, "server", "--port", str(sp), "--workers", "2", "--backend-store-uri",
                uri, "--artifacts-destination", art, "--monitors", str(tmp / "monitors.yaml"),
                "--monitor-interval", "3600", "--no-triggers"], env, tmp / "server.log"),
        _popen([*loopml, "serve", f"m={_model(tmp)}", "--port", str(vp), "--grpc-port", "0",
                "--workers", "2", "--grace-seconds", "2"], env, tmp / "serve.log"),
    ]
    server, serve = f"http://127.0.0.1:{sp}", f"http://127.0.0.1:{vp}"
    (tmp / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": "loopml-server", "static_configs": [{
                "targets": [f"127.0.0.1:{sp}"], "labels": {"component": "control-plane"}}]},
            {"job_name": "loopml-serve", "static_configs": [{
                "targets": [f"127.0.0.1:{vp}"], "labels": {"component": "model-server"}}]},
        ]}))
    procs.append(_popen([PROMETHEUS, f"--config.file={tmp / 'prometheus.yml'}",
                         f"--storage.tsdb.path={tmp / 'tsdb'}",
                         f"--web.listen-address=127.0.0.1:{pp}"], env, tmp / "prom.log"))
    stack = Stack(f"http://127.0.0.1:{pp}", server, serve, procs)
    try:
        deadline = time.monotonic() + 240  # a loaded machine starts processes slowly
        for url in (f"{server}/health", f"{serve}/v2/health/ready", f"{stack.prometheus}/-/ready"):
            _wait(url, deadline, procs)
        body = {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64",
                            "data": [0.5, -0.1, 0.2, 0.3]}]}
        with httpx.Client(timeout=10) as c:
            for _ in range(INFER_OK):
                assert c.post(f"{serve}/v2/models/m/infer", json=body).status_code == 200
            bad = {"inputs": [{"name": "input-0", "shape": [1, 3], "datatype": "FP64",
                               "data": [1.0, 2.0, 3.0]}]}
            for _ in range(INFER_BAD):
                assert c.post(f"{serve}/v2/models/m/infer", json=bad).status_code >= 400
            for _ in range(SERVER_CALLS):
                assert c.get(f"{server}/version").status_code == 200
        # Enough scrapes after the traffic for rate() (two samples) over every series.
        while time.monotonic() < deadline:
            got = stack.query("min(count_over_time(loopml_processes[1m]))")
            if got and float(got[0]["value"][1]) >= 4:
                break
            time.sleep(0.5)
        yield stack
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
