"""The edge agent as a separate process against a real ``loopml server``: a promotion is
served within 10 s with no failed request, a tampered version is refused (old model kept,
event raised), and the inference log survives the server going away mid-run."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.slow


def _wait(fn: Any, timeout: float = 60, what: str = "") -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            out = fn()
            if out:
                return out
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _server(port: int, tmp: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "loopml", "server", "--port", str(port), "--backend-store-uri",
         f"sqlite:///{tmp / 'db.sqlite'}", "--artifacts-destination", str(tmp / "art")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    _wait(lambda: httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200,
          what="server")
    return proc


def _metric(url: str, name: str) -> float:
    for line in httpx.get(url + "/metrics", timeout=2).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(name)


def test_agent_promotion_tamper_and_offline(tmp_path: Path, embedded_home: Path) -> None:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    import loopml
    from loopml import models
    from loopml.entities import TrafficRoute
    from loopml.store import get_deployment_store, get_registry_store
    from loopml.tracking._fluent import client, set_tracking_uri

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = _server(port, tmp_path)
    agent = None
    try:
        set_tracking_uri(url)
        x, y = make_classification(200, 5, random_state=0)
        run_ids = []
        for c in (0.01, 1.0, 5.0):  # three versions: v1, v2 (promoted), v3 (tampered)
            with loopml.start_run() as r:
                models.log_model(LogisticRegression(C=c).fit(x, y), "model", input_example=x[:3],
                                 registered_model_name="clf")
                run_ids.append(r.info.run_id)
        reg = get_registry_store(client().store)
        reg.set_registered_model_alias("clf", "edge", "1")
        get_deployment_store(client().store).create_deployment(
            "shop", [TrafficRoute("models:/clf@edge", 100.0)])

        aport = free_port()
        aurl = f"http://127.0.0.1:{aport}"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONWARNINGS": "ignore"}
        agent = subprocess.Popen(
            [sys.executable, "-m", "loopml", "edge", "agent", "--server", url, "--deployment",
             "shop", "--dir", str(tmp_path / "device"), "--port", str(aport),
             "--poll-seconds", "0.2", "--upload-seconds", "0.5"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        _wait(lambda: httpx.get(aurl + "/health", timeout=1).json().get("version") == "1",
              what="agent serving v1")

        # ---- promotion under load: no failed request, served within 10 s -----------------
        seen: list[str] = []
        failures: list[int] = []
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(base_url=aurl, timeout=10) as h:
                while not stop.is_set():
                    try:
                        r = h.post("/invocations", json={"inputs": x[:2].tolist()})
                        (seen.append(r.headers["x-model-version"]) if r.status_code == 200
                         else failures.append(r.status_code))
                    except httpx.HTTPError:
                        failures.append(-1)

        t = threading.Thread(target=load)
        t.start()
        time.sleep(0.5)
        t0 = time.time()
        reg.set_registered_model_alias("clf", "edge", "2")
        _wait(lambda: seen and seen[-1] == "2", 10, "promotion reaching the agent")
        took = time.time() - t0
        time.sleep(0.3)
        stop.set()
        t.join()
        assert failures == [] and "1" in seen and took < 10
        print(f"promotion served after {took:.2f} s; {len(seen)} requests, 0 failed")

        # ---- a tampered version: refused, v2 kept, event raised ---------------------------
        art = next((tmp_path / "art").rglob(f"*{run_ids[2]}*/**/model.skops"), None) or \
            next(p for p in (tmp_path / "art").rglob("model.skops") if run_ids[2] in str(p))
        art.write_bytes(art.read_bytes()[:-10] + b"0123456789")
        reg.set_registered_model_alias("clf", "edge", "3")
        _wait(lambda: _metric(aurl, "loopml_edge_refused_total") >= 1, 20, "refusal")
        assert httpx.post(aurl + "/invocations", json={"inputs": x[:1].tolist()}) \
            .headers["x-model-version"] == "2"
        events = client().store.read_events(types=["edge.digest_mismatch"])
        assert events and events[0].subject == "shop" and events[0].payload["kept"] == "2"

        # ---- offline: the server stops mid-run; nothing is lost ---------------------------
        _wait(lambda: _metric(aurl, "loopml_edge_log_pending_segments") == 0, 20, "upload")
        server.terminate()
        server.wait(20)
        offline = 0
        for _ in range(25):
            r = httpx.post(aurl + "/invocations", json={"inputs": x[:1].tolist()})
            assert r.status_code == 200
            offline += 1
        _wait(lambda: _metric(aurl, "loopml_edge_online") == 0, 20, "agent noticing")
        _wait(lambda: _metric(aurl, "loopml_edge_log_pending_segments") >= 1, 20, "spooling")
        total = int(_metric(aurl, "loopml_edge_requests_total"))
        server = _server(port, tmp_path)
        _wait(lambda: _metric(aurl, "loopml_edge_log_pending_segments") == 0
              and _metric(aurl, "loopml_edge_log_uploaded_total") == total, 30, "re-upload")
        # every record is on the server
        exp = client().store.get_experiment_by_name("loopml-edge")
        run = client().search_runs([exp.experiment_id])[0]
        dst = client().download_artifacts(run.info.run_id, "inference", tmp_path / "dl")
        lines = sum(len(p.read_text().splitlines()) for p in Path(dst).rglob("*.jsonl"))
        assert lines == total and offline == 25
        assert any(k.endswith(".p99_ms") for k in run.data.metrics)  # measured on the device
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(20)
        server.terminate()
        server.wait(20)
        np.random.seed(0)


@pytest.mark.parametrize(("args", "why"), [
    (["--server", "notaurl"], "http"),
    (["--deployment", "../x"], "deployment name"),
    (["--port", "-1"], "--port"),
    (["--port", "70000"], "--port"),
    (["--dir", "FILE"], "Invalid value for '--dir'"),
])
def test_agent_cli_refuses_bad_input_before_starting(tmp_path: Path, args: list[str],
                                                     why: str) -> None:
    from typer.testing import CliRunner

    from loopml.cli.main import app

    file = tmp_path / "f.txt"
    file.write_text("x")
    base = {"--server": "http://127.0.0.1:1", "--deployment": "d",
            "--dir": str(tmp_path / "ag"), "--port": "0"}
    base.update(dict(zip(args[::2], [str(file) if a == "FILE" else a for a in args[1::2]])))
    r = CliRunner().invoke(app, ["edge", "agent", *[x for kv in base.items() for x in kv]])
    assert r.exit_code == 2 and why in r.output, r.output
