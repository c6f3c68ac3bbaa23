"""Monitors end to end: serve with an inference log, send traffic and ground truth (REST
feedback), compute windows (drift, latency, errors, quality), stay idempotent, fire alerts."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier

from loopml import data, models
from loopml.monitoring.alerts import FIRING, AlertEngine, AlertRule, store_publisher
from loopml.monitoring.monitor import MonitorSpec, run_monitor
from loopml.store.monitoring_rest import RestMonitoringStore
from loopml.store.rest import RestStore
from tests.server.conftest import live_server  # noqa: F401 - fixture re-export
from tests.serving.conftest import start


@pytest.fixture(scope="module")
def setup(tmp_path_factory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("monitor")
    d = load_breast_cancer()
    x = pd.DataFrame(d.data, columns=d.feature_names)
    clf = HistGradientBoostingClassifier(max_iter=30).fit(x, d.target)
    models.save_model(clf, tmp / "model", input_example=x[:20])
    (tmp / "profile.json").write_text(json.dumps(data.profile(x).to_dict()))
    (tmp / "schema.json").write_text(data.infer_schema(x).to_json())
    return tmp, x, d.target


def _traffic(url: str, rows: np.ndarray) -> list[str]:
    ids = []
    with httpx.Client(base_url=url) as c:
        for r in rows:
            resp = c.post("/v2/models/m/infer", json={"inputs": [
                {"name": "input-0", "shape": [1, 30], "datatype": "FP64", "data": r.tolist()}]})
            assert resp.status_code == 200
            ids.append(resp.headers["x-request-id"])
        bad = c.post("/v2/models/m/infer", json={"inputs": [
            {"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}]})
        assert bad.status_code == 400
    return ids


def test_monitor_windows_quality_and_alerts(setup, live_server) -> None:  # noqa: F811
    tmp, x, y = setup
    s = start({"m": str(tmp / "model")}, tmp / "srv")
    try:
        idx = np.random.default_rng(0).choice(len(x), 100, replace=False)
        normal = x.to_numpy()[idx]  # a random sample looks like the training data
        shifted = normal * 1.8  # drifted traffic
        ids = _traffic(s.url, normal) + _traffic(s.url, shifted)
        s.app.state.serving.logger.flush()  # type: ignore[attr-defined]
    finally:
        s.stop()

    tracking = RestStore(live_server.url)
    store = RestMonitoringStore(tracking)
    # Ground truth through the REST API: single and batch forms, plus a bad one.
    one = httpx.post(f"{live_server.url}/api/loopml/v1/feedback",
                     json={"request_id": ids[0], "label": int(y[idx[0]])})
    assert one.status_code == 200 and one.json() == {"stored": 1}
    labels = [(rid, int(lbl)) for rid, lbl in zip(ids[:100], y[idx], strict=True)]
    assert store.log_feedback(labels[1:]) == 99
    bad = httpx.post(f"{live_server.url}/api/loopml/v1/feedback", json={"items": [{"label": 1}]})
    assert bad.status_code == 400 and "request_id" in bad.json()["message"]

    spec = MonitorSpec(
        name="m-monitor", deployment="default", log_dir=str(tmp / "srv" / "ilog"),
        reference_profile=str(tmp / "profile.json"), schema=str(tmp / "schema.json"),
        window_seconds=None, window_count=101, task="classification",
        rules=[AlertRule("drift", "drift.share_drifted", ">=", 0.5)])
    engine = AlertEngine(spec.rules, store_publisher(tracking))
    new = run_monitor(spec, store, engine)
    assert len(new) == 2
    first, second = new[0].metrics, new[1].metrics
    assert first["requests"] == 101 and first["errors.rate"] == pytest.approx(1 / 101)
    assert first["latency.p99_ms"] > 0 and first["drift.share_drifted"] < 0.5
    assert first["quality.labels"] == 100 and first["quality.accuracy"] > 0.9
    assert second["drift.share_drifted"] >= 0.5 and second["quality.labels"] == 0
    assert second["data.anomalies"] > 0  # out-of-range values against the schema
    assert run_monitor(spec, store, engine) == []  # idempotent: nothing recomputed
    series = httpx.get(f"{live_server.url}/api/loopml/v1/monitors/m-monitor/results").json()
    assert [r["metrics"]["requests"] for r in series["results"]] == [101, 101]
    fired = [e for e in tracking.read_events(types=[FIRING])]
    assert [e.subject for e in fired] == ["drift/default"]
    tracking.close()


def test_monitor_cli(setup, tmp_path, embedded_home) -> None:
    from typer.testing import CliRunner

    from loopml.cli.main import app

    tmp, x, _ = setup
    s = start({"m": str(tmp / "model")}, tmp_path / "srv")
    try:
        ids = _traffic(s.url, x.to_numpy()[:20])
        s.app.state.serving.logger.flush()  # type: ignore[attr-defined]
    finally:
        s.stop()
    (tmp_path / "labels.csv").write_text("request_id,label\n" +
                                         "\n".join(f"{i},0" for i in ids))
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "cli-monitor", "deployment": "default", "log_dir": str(tmp_path / "srv" / "ilog"),
        "reference_profile": str(tmp / "profile.json"), "window_seconds": None,
        "window_count": 21, "task": "classification",
        "rules": [{"name": "errors", "metric": "errors.rate", "op": ">", "threshold": 0.01}]}))
    runner = CliRunner()
    assert "Stored 20 label(s)" in runner.invoke(app, ["feedback", str(tmp_path / "labels.csv")]).output
    out = runner.invoke(app, ["monitor", "run", str(cfg)])
    assert out.exit_code == 0 and "1 new window(s)" in out.output and "quality.labels=20" in out.output
    res = runner.invoke(app, ["monitor", "results", "cli-monitor"])
    assert json.loads(res.output.splitlines()[0])["requests"] == 21
    badcfg = tmp_path / "bad.yaml"
    badcfg.write_text("name: x\nunknown_key: 1\n")
    assert runner.invoke(app, ["monitor", "run", str(badcfg)]).exit_code == 2


def test_scheduler_runs_specs(setup, tmp_path) -> None:
    from loopml.monitoring.scheduler import MonitorScheduler, load_specs
    from loopml.store.monitoring_sql import SqlMonitoringStore
    from loopml.store.sql import SqlStore

    tmp, x, _ = setup
    s = start({"m": str(tmp / "model")}, tmp_path / "srv")
    try:
        _traffic(s.url, x.to_numpy()[:9])
        s.app.state.serving.logger.flush()  # type: ignore[attr-defined]
    finally:
        s.stop()
    specs = tmp_path / "monitors.yaml"
    specs.write_text(yaml.safe_dump({"monitors": [{
        "name": "sched", "deployment": "default", "log_dir": str(tmp_path / "srv" / "ilog"),
        "window_seconds": None, "window_count": 5}]}))
    tracking = SqlStore(f"sqlite:///{tmp_path / 'db'}", str(tmp_path / "a"))
    store = SqlMonitoringStore(tracking.engine)
    sched = MonitorScheduler(load_specs(specs), tracking, store, interval_s=0.05)
    sched.start()
    import time

    deadline = time.time() + 10
    while sched.passes < 3 and time.time() < deadline:
        time.sleep(0.05)
    sched.stop()
    assert [r.metrics["requests"] for r in store.results("sched")] == [5.0, 5.0]  # 10 rows
    tracking.close()
