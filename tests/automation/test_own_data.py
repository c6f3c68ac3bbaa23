"""Acceptance: the whole loop on data no one here wrote (river's NASA shuttle set: nine
integer features), as docs/loop-own-data.md runs it. A champion trained on one range of f1
serves through the real serving app; traffic moves into the other range, labels arrive one
batch late. Nothing is triggered by hand: the monitor's drift alert starts the loop, the gate
promotes a challenger better on recent traffic (and no worse on a holdout from before the
shift), and the same traffic then stays quiet for 5 more windows. A challenger trained on
shuffled labels is rejected at the gate; one serving cannot load is rolled back at once."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from loopml.store.loops_base import ACTIVE
from tests.automation.shuttle_flows import FEATURES, LABEL, shuttle

WINDOW, TICK = 300, 50


class Rig:
    """Store, champion, serving app, monitor and controller, all in this process; time
    advances by ticks of traffic, so every decision depends on data, never on timing."""

    def __init__(self, root: Path) -> None:
        from starlette.testclient import TestClient

        from loopml.automation import Controller, Policy
        from loopml.entities import TrafficRoute
        from loopml.monitoring.alerts import AlertRule
        from loopml.monitoring.monitor import MonitorSpec, alert_engine
        from loopml.serving.repository import ServingSettings
        from loopml.serving.server import ServeOptions, build_app
        from loopml.serving.traffic import STATUS_EVENT
        from loopml.store import get_deployment_store, get_monitoring_store
        from loopml.store.sql import SqlStore
        from loopml.tracking._client import TrackingClient
        from loopml.tracking._fluent import set_tracking_uri

        self.root = root
        db = f"sqlite:///{root / 'loopml.db'}"
        self.tracking = SqlStore(db, str(root / "artifacts"))
        self.client = TrackingClient(db, store=self.tracking)
        from loopml.services import services_for_store

        process = services_for_store(self.tracking, uri=db, client=self.client)
        set_tracking_uri(db)  # serving loads models in worker threads
        data = shuttle()  # in the file's order: each regime's traffic as it was recorded
        old, self.new = data[data.f1 < 45], data[data.f1 >= 45]
        old.iloc[:3000].to_parquet(root / "train.parquet")
        old.iloc[3000:6000].to_parquet(root / "holdout.parquet")  # before the shift
        self.old = old.iloc[6000:]
        self.champion_version = self._champion(old.iloc[:3000])
        deployments = get_deployment_store(self.tracking)
        deployments.create_deployment("shuttle", [TrafficRoute("models:/shuttle/1", 100.0)],
                                      sticky_header="x-key")
        self.monitoring = get_monitoring_store(self.tracking)
        self.spec = MonitorSpec(
            "shuttle-live", "shuttle", str(root / "inference"), reference_profile="champion",
            window_seconds=None, window_count=WINDOW, task="classification",
            rules=[AlertRule("drift_share", "drift.share_drifted", ">", 0.5, for_windows=2)])
        self.engine = alert_engine(self.spec, self.tracking)
        self.policy = Policy.from_dict({
            "model": "shuttle", "deployment": "shuttle", "log_dir": str(root / "inference"),
            "trigger": {"alerts": ["drift*"]},
            "retrain": {"pipeline": "tests.automation.shuttle_flows:retrain",
                        "params": {"original": str(root / "train.parquet")}},
            "evaluate": {"holdout": str(root / "holdout.parquet"), "label": LABEL,
                         "metric": "f1", "recent_seconds": 3600, "recent_count": 300,
                         "recent_holdout_percent": 30, "labels_deadline_seconds": 60},
            "gate": {"recent": {"min_improvement": 0.05, "min_rows": 60},
                     "holdout": {"max_regression": 0.1, "min_rows": 1000},
                     "confidence": 0.9},
            "canary": {"weight": 30, "min_requests": 60, "max_seconds": 600,
                       "max_quality_drop": 0.2, "min_labels": 15},
            "cooldown_seconds": 3600,
        })
        self.ctl = Controller(self.tracking, [self.policy], interval_s=0.05)
        app = build_app({}, ServingSettings(), ServeOptions(
            grpc_port=None, log_dir=str(root / "inference"), deployments=("shuttle",),
            poll_s=0.05), fetch=deployments.get_deployment,
            report=lambda n, s: self.tracking.append_event(STATUS_EVENT, n, s),
            services=lambda: process)  # models:/ URIs resolve through this store
        self.http = TestClient(app, base_url="http://127.0.0.1").__enter__()
        self.serving = app.state.serving
        self.sent, self.pending, self.windows = 0, [], 0

    def _champion(self, train: pd.DataFrame) -> int:
        from sklearn.ensemble import HistGradientBoostingClassifier

        import loopml
        from loopml import models
        from loopml.data import log_dataset
        from loopml.store import get_registry_store
        from loopml.tracking._fluent import using_client

        model = HistGradientBoostingClassifier(max_iter=60, random_state=0)
        model.fit(train[FEATURES], train[LABEL])
        with using_client(self.client), loopml.start_run(run_name="champion") as run:
            log_dataset(train[FEATURES], name="train")
            models.log_model(model, "model", input_example=train[FEATURES].head(3))
        mv = models.register_model(f"runs:/{run.info.run_id}/model", "shuttle",
                                   client=self.client)
        get_registry_store(self.tracking).set_registered_model_alias("shuttle", "champion",
                                                                     mv.version)
        return int(mv.version)

    def close(self) -> None:
        from loopml.tracking._fluent import set_tracking_uri

        self.http.__exit__(None, None, None)
        set_tracking_uri(None)

    def tick(self, shifted: bool) -> None:
        """Serve TICK requests (V2, one INT64 tensor per column), deliver the previous
        tick's labels, run the monitor and one controller pass."""
        source = self.new if shifted else self.old
        rows = source.iloc[self.sent % len(source):][:TICK]
        labels = []
        for i, row in enumerate(rows.itertuples(index=False)):
            inputs = [{"name": f, "datatype": "INT64", "shape": [1],
                       "data": [int(getattr(row, f))]} for f in FEATURES]
            r = self.http.post("/v2/models/shuttle/infer", json={"inputs": inputs},
                               headers={"x-key": str(self.sent + i)})
            assert r.status_code == 200, r.text
            labels.append((r.headers["x-request-id"], int(getattr(row, LABEL))))
        self.sent += len(rows)
        self.serving.logger.flush()
        if self.pending:
            self.monitoring.log_feedback(self.pending)
        self.pending = labels
        from loopml.monitoring.monitor import run_monitor

        self.windows += len(run_monitor(self.spec, self.monitoring, self.engine,
                                        client=self.client))
        self.ctl.run_once()

    def loops(self) -> list[Any]:
        return self.ctl.loops.list_loops("shuttle")

    def until(self, state: set[str], shifted: bool = True, max_ticks: int = 120) -> Any:
        for _ in range(max_ticks):
            self.tick(shifted)
            loops = self.loops()
            if loops and loops[0].state in state:
                return loops[0]
            time.sleep(0.02)  # the retrain runs in a thread
        raise AssertionError(f"no loop reached {state}: {[(x.state, x.reason) for x in self.loops()]}")


@pytest.fixture
def rig(tmp_path):  # type: ignore[no-untyped-def]
    from loopml.tracking._fluent import set_tracking_uri

    r = Rig(tmp_path)
    yield r
    r.close()
    set_tracking_uri(None)  # the rig pointed the fluent client at its own store


def test_the_loop_closes_on_shuttle_data(rig: Rig, capsys) -> None:  # type: ignore[no-untyped-def]
    from loopml.store import get_registry_store

    for _ in range(2 * WINDOW // TICK):
        rig.tick(shifted=False)
    assert rig.windows == 2 and rig.loops() == []  # normal traffic: quiet

    loop = rig.until({"PROMOTED", "REJECTED", "ROLLED_BACK", "FAILED"})
    history = rig.ctl.loops.history("shuttle")
    assert loop.state == "PROMOTED", (loop.reason, [(e.action, e.message) for e in history])
    assert loop.trigger["reason"].startswith("alert drift_share/shuttle")
    recent, hold = loop.evaluation["recent"], loop.evaluation["holdout"]
    assert recent["challenger"]["f1"] > recent["champion"]["f1"] + 0.05
    assert hold["challenger"]["f1"] >= hold["champion"]["f1"] - 0.1
    first_alert = rig.tracking.read_events(types=["alert.firing"])[0].time
    promoted = history[-1].time
    # Quiet afterwards: the monitor's reference followed the champion; no new loop.
    windows = rig.windows
    while rig.windows < windows + 5:
        rig.tick(shifted=True)
    assert len(rig.loops()) == 1
    firing = rig.tracking.read_events(types=["alert.firing"])
    assert [e.time for e in firing if e.time > promoted] == []
    last = rig.monitoring.results("shuttle-live")[-1]
    assert last.details["reference"] == f"models:/shuttle/{loop.challenger_version}"
    assert last.metrics["drift.share_drifted"] <= 0.5

    # A challenger trained on shuffled labels is rejected at the gate, and tagged.
    rig.ctl.policies["shuttle"] = dataclasses.replace(rig.policy, retrain=dataclasses.replace(
        rig.policy.retrain, params={**rig.policy.retrain.params, "shuffle": True}))
    bad = rig.ctl.trigger("shuttle", "manual")
    assert bad is not None
    bad = rig.until({"PROMOTED", "REJECTED", "ROLLED_BACK", "FAILED"})
    assert bad.state == "REJECTED", bad.reason
    reg = get_registry_store(rig.tracking)
    assert reg.get_model_version("shuttle", bad.challenger_version).tags[
        "loopml.rejected"].startswith("gate:")

    # A challenger serving cannot load: rolled back within 10 s, the cause in the audit.
    gate = dataclasses.replace(rig.policy.gate, allow_ties=True, recent=dataclasses.replace(
        rig.policy.gate.recent, min_improvement=-1.0))
    rig.ctl.policies["shuttle"] = dataclasses.replace(rig.policy, gate=gate)
    assert rig.ctl.trigger("shuttle", "manual") is not None
    broken = rig.until({"CANARY", "REJECTED", "FAILED"})
    assert broken.state == "CANARY", broken.reason
    folder = Path(reg.get_model_version("shuttle", broken.challenger_version)
                  .storage_location.removeprefix("file://"))
    for f in folder.iterdir():
        if f.is_file() and f.name != "MLmodel":
            f.unlink()
    t0 = time.time()
    broken = rig.until({"ROLLED_BACK", "PROMOTED", "FAILED"})
    assert broken.state == "ROLLED_BACK" and time.time() - t0 < 10
    assert "did not load in serving" in str(broken.reason)
    assert reg.get_model_version_by_alias("shuttle", "champion").version == loop.challenger_version
    assert not any(x.state in ACTIVE for x in rig.loops())

    with capsys.disabled():  # the closing note of the issue: the audit of this run
        print(f"\nfirst alert -> promotion: {(promoted - first_alert) / 1000:.1f} s; gate: "
              f"recent f1 {recent['champion']['f1']:.3f} -> {recent['challenger']['f1']:.3f} "
              f"({recent['rows']} rows, interval {recent.get('interval')}), holdout f1 "
              f"{hold['champion']['f1']:.3f} -> {hold['challenger']['f1']:.3f} "
              f"({hold['rows']} rows)")
        for e in rig.ctl.loops.history("shuttle"):
            print(f"  {e.loop_id and e.loop_id[:8]} {e.action:<16} {e.message[:150]}")
