"""A registry with a champion (v1) trained before the sensor recalibration, a deployment
serving it, a recalibrated holdout, and helpers to write canary traffic."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from loopml.automation import Controller, Policy
from loopml.demo.scenario import FEATURES, LABEL, sensors
from loopml.entities import TrafficRoute
from loopml.store import get_deployment_store, get_monitoring_store, get_registry_store
from loopml.store.sql import SqlStore
from loopml.tracking._client import TrackingClient


@dataclass
class World:
    root: Path
    tracking: SqlStore
    client: TrackingClient

    def policy(self, **over: Any) -> Policy:
        base: dict[str, Any] = {
            "model": "pm", "deployment": "pm", "log_dir": str(self.root / "inference"),
            "trigger": {"alerts": ["drift*"]},
            "retrain": {"pipeline": "tests.automation.flows:retrain", "output_step": "register",
                        "params": {"kind": "good"}},
            "evaluate": {"holdout": str(self.root / "holdout.parquet"), "label": LABEL,
                         "metric": "f1", "recent_seconds": None},
            "gate": {"min": {"f1": 0.3}, "min_improvement": 0.02},
            "canary": {"weight": 25, "min_requests": 20, "max_seconds": 60,
                       "max_error_rate": 0.1, "max_quality_drop": None},
        }
        for k, v in over.items():
            base[k] = {**base[k], **v} if isinstance(v, dict) and isinstance(base.get(k), dict) \
                else v
        return Policy.from_dict(base)

    def controller(self, **over: Any) -> Controller:
        return Controller(self.tracking, [self.policy(**over)], interval_s=0.05)

    def routes(self) -> list[tuple[str, float]]:
        d = get_deployment_store(self.tracking).get_deployment("pm")
        return [(r.model_uri, r.weight) for r in d.routes]

    def champion(self) -> int:
        return get_registry_store(self.tracking).get_model_version_by_alias("pm", "champion").version

    def traffic(self, version: int, n: int, status: int = 200, latency_ms: float = 5.0,
                correct: bool = True) -> None:
        """Write ``n`` served requests of ``version`` to the inference log, with labels."""
        from loopml.inference_log import InferenceLogWriter

        logger = InferenceLogWriter(self.root / "inference", flush_ms=50)
        labels = []
        for i in range(n):
            rid = uuid.uuid4().hex
            y = i % 2
            logger.record("pm", rid, f"models:/pm/{version}", str(version),
                          {"columns": FEATURES, "data": [[70.0, 1.0, 100.0, 1500.0, 45.0, 900.0]]},
                          [y if correct else 1 - y], latency_ms, status)
            labels.append((rid, y))
        logger.close()
        get_monitoring_store(self.tracking).log_feedback(labels)

    def drive(self, ctl: Controller, loop_id: str, until: set[str], timeout: float = 120) -> Any:
        deadline = time.time() + timeout
        loop = ctl.loops.get_loop(loop_id)
        while loop.state not in until and time.time() < deadline:
            ctl.run_once()
            loop = ctl.loops.get_loop(loop_id)
            time.sleep(0.05)
        assert loop.state in until, (loop.state, loop.reason)
        return loop


@pytest.fixture
def world(tmp_path) -> World:  # type: ignore[no-untyped-def]
    from sklearn.ensemble import HistGradientBoostingClassifier

    from loopml import models
    from loopml.tracking._fluent import using_client

    tracking = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
    client = TrackingClient(store=tracking)
    old = sensors(1500, 7)
    model = HistGradientBoostingClassifier(max_iter=60, class_weight="balanced",
                                           random_state=0).fit(old[FEATURES], old[LABEL])
    run = client.create_run("0", "champion")
    with using_client(client):
        models.log_model(model, "model", run_id=run.info.run_id,
                         input_example=old[FEATURES].head(3))
        mv = models.register_model(f"runs:/{run.info.run_id}/model", "pm", client=client)
    reg = get_registry_store(tracking)
    reg.set_registered_model_alias("pm", "champion", mv.version)
    get_deployment_store(tracking).create_deployment(
        "pm", [TrafficRoute(f"models:/pm/{mv.version}", 100.0)])
    sensors(800, 99, day=60, recalibrated=True).to_parquet(tmp_path / "holdout.parquet")
    return World(tmp_path, tracking, client)
