"""Controller crash recovery: ``loopml controller`` killed with SIGKILL mid-retrain and
mid-canary, then restarted, finishes the loop once: one pipeline run (resumed), one
challenger version, one canary, and a promotion only after the gate passed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from loopml.store import get_pipeline_store, get_registry_store
from tests.automation.conftest import World

ROOT = Path(__file__).resolve().parents[2]


def _start(world: World, policies: Path) -> subprocess.Popen[bytes]:
    # the tree under test (src/) first, not whatever loopml the interpreter has installed
    env = {**os.environ, "LOOPML_HOME": str(world.root),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    return subprocess.Popen(
        [sys.executable, "-m", "loopml", "controller", "--policies", str(policies),
         "--interval", "0.2", "--tracking-uri", f"sqlite:///{world.root / 'db.sqlite'}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _until(cond, timeout: float = 90) -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached")


@pytest.mark.timeout(300)
def test_sigkill_mid_retrain_and_mid_canary(world: World) -> None:
    policy = world.policy(retrain={"params": {"kind": "good", "pause": 4.0}})
    raw = {"model": "pm", "deployment": "pm", "log_dir": policy.log_dir,
           "trigger": {"alerts": ["drift*"]},
           "retrain": {"pipeline": "tests.automation.flows:retrain", "output_step": "register",
                       "params": {"kind": "good", "pause": 4.0}},
           "evaluate": {"holdout": policy.evaluate.holdout, "label": "failure", "metric": "f1",
                        "recent_seconds": None},
           "gate": {"min": {"f1": 0.3}, "min_improvement": 0.02},
           "canary": {"weight": 25, "min_requests": 20, "max_seconds": 600,
                      "max_error_rate": 0.1, "max_quality_drop": None}}
    path = world.root / "policies.yaml"
    path.write_text(yaml.safe_dump(raw))
    ctl = world.controller(retrain={"params": {"kind": "good", "pause": 4.0}})
    loop = ctl.trigger("pm", "alert drift_share/pm")
    assert loop is not None
    pipelines = get_pipeline_store(world.tracking)

    def step_running() -> bool:
        runs = pipelines.list_runs()
        return bool(runs) and any(s.step == "register" and s.status == "RUNNING"
                                  for s in pipelines.get_steps(runs[0].run_id))

    proc = _start(world, path)
    _until(step_running)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert ctl.loops.get_loop(loop.loop_id).state == "RETRAINING"
    assert pipelines.list_runs()[0].status == "RUNNING"  # orphaned by the kill

    proc = _start(world, path)
    _until(lambda: ctl.loops.get_loop(loop.loop_id).state == "CANARY"
           and len(world.routes()) == 2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)

    world.traffic(2, 25)
    world.traffic(1, 25)
    proc = _start(world, path)
    try:
        _until(lambda: ctl.loops.get_loop(loop.loop_id).state == "PROMOTED")
    finally:
        proc.terminate()
        proc.wait(20)
    runs = pipelines.list_runs()
    assert len(runs) == 1 and runs[0].status == "SUCCEEDED" and runs[0].attempt == 2
    versions = get_registry_store(world.tracking).search_model_versions("name = 'pm'")
    assert sorted(v.version for v in versions) == [1, 2]
    actions = [e.action for e in ctl.loops.history("pm")]
    assert actions.count("canary_started") == 1 and actions.count("retrained") == 1
    assert actions.index("gate_passed") < actions.index("promoted")
    assert world.champion() == 2 and world.routes() == [("models:/pm/2", 100.0)]
