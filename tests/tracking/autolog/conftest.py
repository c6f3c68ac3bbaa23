"""Each autolog test logs into its own embedded LOOPML_HOME and leaves no patch behind."""

from __future__ import annotations

from typing import Any

import pytest

import loopml
from loopml.tracking._fluent import client


@pytest.fixture(autouse=True)
def embedded(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPML_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LOOPML_TRACKING_URI", raising=False)
    loopml.set_tracking_uri(None)
    from loopml.tracking import _fluent

    monkeypatch.setattr(_fluent._tls, "last_run_id", None)  # an earlier test's run
    yield
    loopml.autolog(disable=True)
    while loopml.active_run():
        loopml.end_run()
    loopml.set_tracking_uri(None)


def runs() -> list[Any]:
    """Every run of the Default experiment, oldest first."""
    store = client().store
    exp = store.get_experiment_by_name("Default")
    return sorted(store.search_runs([exp.experiment_id]).items, key=lambda r: r.info.start_time)


def artifacts(run_id: str) -> set[str]:
    c = client()
    store = c.artifact_store(c.get_run(run_id).info.artifact_uri)
    return {f.path for f in store.list("", recursive=True) if not f.is_dir}


def metric_history(run_id: str, key: str) -> list[tuple[int, float]]:
    hist = client().store.get_metric_history(run_id, key).items
    return sorted((m.step, m.value) for m in hist)
