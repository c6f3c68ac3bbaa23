"""The leader runs the Monitor and LoopPolicy documents applied to its store, and follows a
new apply within one pass (when the server was not given --monitors / --policies files)."""

from __future__ import annotations

from pathlib import Path

from loopml.automation import Controller
from loopml.gitops import State
from loopml.monitoring.scheduler import MonitorScheduler
from loopml.pipelines._registry import PipelineRegistry
from loopml.server._background import BackgroundWork
from loopml.server._stored_config import StoredConfigRunner
from loopml.store import get_store

POLICY = {"model": "pm", "deployment": "pm", "log_dir": "/tmp/none",
          "retrain": {"pipeline": "tests.ha.flows:retrain"}}
MONITOR = {"deployment": "pm", "log_dir": "/tmp/none", "window_seconds": 60}


def test_stored_documents_run_and_follow_changes(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = get_store(uri, str(tmp_path / "art"))
    state = State(store)
    state.config.put("LoopPolicy", "pm", POLICY)
    state.config.put("LoopPolicy", "ghost", {**POLICY, "model": "g",
                                             "retrain": {"pipeline": "not.registered:x"}})
    work = BackgroundWork(uri, str(tmp_path / "art"), "mlflow-artifacts:",
                          PipelineRegistry.load("tests.ha.flows:retrain"), triggers=False)
    workers = work.start(1)
    assert any(isinstance(w, StoredConfigRunner) for w in workers)
    for w in workers:
        w.stop()
    runner = StoredConfigRunner(store, store, work, True, True)  # passes driven by hand
    try:
        assert runner.run_once() is True
        ctl = [w for w in runner._running if isinstance(w, Controller)]
        assert len(ctl) == 1 and sorted(ctl[0].policies) == ["pm"]  # ghost: not registered
        assert runner.run_once() is False  # nothing changed
        state.config.put("Monitor", "pm-drift", MONITOR)
        assert runner.run_once() is True
        assert any(isinstance(w, MonitorScheduler) for w in runner._running)
        runner.stop()
        assert not runner._running
    finally:
        runner.stop()
        store.close()
