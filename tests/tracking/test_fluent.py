from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import pytest

import loopml
from loopml.errors import InvalidState
from loopml.tracking._fluent import client


@pytest.fixture(autouse=True)
def embedded(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPML_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LOOPML_TRACKING_URI", raising=False)
    loopml.set_tracking_uri(None)
    yield
    while loopml.active_run():
        loopml.end_run()
    loopml.set_tracking_uri(None)


def test_public_api_surface():
    for name in loopml.__all__:
        assert hasattr(loopml, name), name
    assert {"start_run", "log_metric", "log_param", "set_tag", "log_artifact"} <= set(loopml.__all__)


def test_embedded_run_logs_everything(tmp_path):
    f = tmp_path / "note.txt"
    f.write_text("hello")
    with loopml.start_run(experiment="fluent", run_name="r1") as run:
        loopml.log_param("lr", 0.1)
        loopml.log_params({"depth": 3})
        loopml.log_metric("loss", 0.5, step=1)
        loopml.log_metrics({"acc": 0.9, "nan": math.nan}, step=2)
        loopml.set_tag("team", "ml")
        loopml.log_artifact(f, "notes")
    got = client().get_run(run.run_id)
    assert got.info.status == "FINISHED" and got.info.run_name == "r1"
    assert got.data.params == {"lr": "0.1", "depth": "3"}
    assert got.data.metrics["acc"].value == 0.9 and math.isnan(got.data.metrics["nan"].value)
    assert client().list_artifacts(run.run_id, "notes") == ["note.txt"]


def test_failed_block_marks_run_failed():
    with pytest.raises(RuntimeError), loopml.start_run(experiment="fail") as run:
        raise RuntimeError("boom")
    assert client().get_run(run.run_id).info.status == "FAILED"


def test_nested_runs_and_misuse():
    with loopml.start_run(experiment="nest") as parent:
        with pytest.raises(InvalidState):
            loopml.start_run()
        with loopml.start_run(nested=True) as child:
            pass
    assert client().get_run(child.run_id).data.tags["mlflow.parentRunId"] == parent.run_id
    with pytest.raises(InvalidState):
        loopml.log_metric("x", 1.0)


def test_100k_buffered_metrics_all_arrive():
    with loopml.start_run(experiment="bulk") as run:
        for i in range(100_000):
            loopml.log_metric("loss", 1.0 / (i + 1), step=i)
    hist = client().get_metric_history(run.run_id, "loss")
    assert len(hist) == 100_000 and hist[-1].step == 99_999


def test_exit_without_end_run_loses_nothing(tmp_path):
    script = textwrap.dedent("""
        import loopml
        run = loopml.start_run(experiment="exit")
        for i in range(5000):
            loopml.log_metric("m", float(i), step=i)
        print(run.run_id)
    """)
    env = {**os.environ, "LOOPML_HOME": str(tmp_path / "home2")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                         check=True, timeout=120)
    run_id = out.stdout.strip()
    from loopml.store.sql import SqlStore

    s = SqlStore(f"sqlite:///{tmp_path / 'home2' / 'loopml.db'}", str(tmp_path / "a"))
    assert len(s.get_metric_history(run_id, "m")) == 5000


def test_remote_mode_through_server(tmp_path):
    from tests.server.conftest import start_server

    srv = start_server(tmp_path / "srv")
    try:
        loopml.set_tracking_uri(srv.url)
        f = tmp_path / "a.txt"
        f.write_text("remote")
        with loopml.start_run(experiment="remote") as run:
            loopml.log_param("p", 1)
            for i in range(2500):
                loopml.log_metric("m", float(i), step=i)
            loopml.log_artifact(f)
        c = client()
        assert len(c.get_metric_history(run.run_id, "m")) == 2500
        assert c.list_artifacts(run.run_id) == ["a.txt"]
        assert (srv.artifacts / "1" / run.run_id / "artifacts" / "a.txt").read_text() == "remote"
        dl = c.download_artifacts(run.run_id, "a.txt", tmp_path / "dl")
        assert dl.read_text() == "remote"
    finally:
        loopml.set_tracking_uri(None)
        srv.stop()
