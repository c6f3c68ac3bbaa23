"""log_text / log_dict / log_figure / log_table and start_run(run_id=...) on the embedded store."""

from __future__ import annotations

import json

import pytest
import yaml

import loopml
from loopml.errors import InvalidParameterValue, InvalidState, ResourceDoesNotExist
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


def _read(run_id: str, path: str) -> bytes:
    c = client()
    return c.artifact_store(c.get_run(run_id).info.artifact_uri).get_bytes(path)


def test_exported():
    assert {"log_text", "log_dict", "log_figure", "log_table"} <= set(loopml.__all__)


def test_log_text_and_dict():
    with loopml.start_run(experiment="objs") as run:
        loopml.log_text("héllo", "notes/a.txt")
        loopml.log_dict({"k": [1, 2], "obj": object}, "cfg/c.json")
        loopml.log_dict({"a": {"b": 1}}, "cfg/c.yaml")
        loopml.log_dict({"x": 1}, "plain")
    rid = run.run_id
    assert _read(rid, "notes/a.txt").decode() == "héllo"
    got = json.loads(_read(rid, "cfg/c.json"))
    assert got["k"] == [1, 2] and "object" in got["obj"]  # str() of what JSON cannot encode
    assert yaml.safe_load(_read(rid, "cfg/c.yaml")) == {"a": {"b": 1}}
    assert json.loads(_read(rid, "plain")) == {"x": 1}
    assert sorted(client().list_artifacts(rid, "cfg")) == ["c.json", "c.yaml"]


def test_explicit_run_id_without_active_run():
    run = client().create_run("0")
    loopml.log_text("x", "t.txt", run_id=run.info.run_id)
    assert _read(run.info.run_id, "t.txt") == b"x"


@pytest.mark.parametrize("bad", ["", "/etc/passwd", "../up.txt", "a/../../b.txt", "notes/"])
def test_bad_artifact_paths_refused(bad):
    with loopml.start_run(), pytest.raises(InvalidParameterValue, match="artifact_file"):
        loopml.log_text("x", bad)


def test_log_table_appends_in_mlflow_format():
    import pandas as pd

    with loopml.start_run() as run:
        loopml.log_table({"inputs": ["a", "b"], "score": [0.1, 0.2]}, "eval/t.json")
        loopml.log_table(pd.DataFrame({"inputs": ["c"], "score": [0.3]}), "eval/t.json")
        loopml.log_table({"only": "scalar"}, "one.json")
    rid = run.run_id
    got = json.loads(_read(rid, "eval/t.json"))
    assert got == {"columns": ["inputs", "score"], "data": [["a", 0.1], ["b", 0.2], ["c", 0.3]]}
    assert json.loads(_read(rid, "one.json")) == {"columns": ["only"], "data": [["scalar"]]}
    tag = json.loads(client().get_run(rid).data.tags["mlflow.loggedArtifacts"])
    assert tag == [{"path": "eval/t.json", "type": "table"}, {"path": "one.json", "type": "table"}]


def test_log_table_bad_input():
    with loopml.start_run():
        with pytest.raises(InvalidParameterValue, match="'.json' or"):
            loopml.log_table({"a": [1]}, "t.csv")
        with pytest.raises(InvalidParameterValue, match="forbidden character"):
            loopml.log_table({"a": [1]}, "t:1.json")
        with pytest.raises(InvalidParameterValue, match="DataFrame or a dict"):
            loopml.log_table([1, 2], "t.json")
        # Columns of different lengths are not one row of lists.
        with pytest.raises(InvalidParameterValue, match="same length"):
            loopml.log_table({"a": [1, 2], "b": [1]}, "t.json")


def test_log_figure_matplotlib(tmp_path):
    mpl = pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    with loopml.start_run() as run:
        loopml.log_figure(fig, "plots/line.png")
        loopml.log_figure(fig, "plots/line.svg")
    plt.close(fig)
    assert _read(run.run_id, "plots/line.png")[:4] == b"\x89PNG"
    assert b"<svg" in _read(run.run_id, "plots/line.svg")


def test_log_figure_duck_typed_and_refused():
    class Fig:
        def savefig(self, path: str, **kw: object) -> None:
            with open(path, "w") as f:
                f.write(f"fig {kw}")

    with loopml.start_run() as run:
        loopml.log_figure(Fig(), "f.txt", save_kwargs={"dpi": 10})
        with pytest.raises(InvalidParameterValue, match="matplotlib or plotly"):
            loopml.log_figure(object(), "g.png")
    assert _read(run.run_id, "f.txt") == b"fig {'dpi': 10}"


def test_resume_run_by_id():
    with loopml.start_run(experiment="resume") as run:
        loopml.log_param("a", 1)
    assert client().get_run(run.run_id).info.status == "FINISHED"
    with loopml.start_run(run_id=run.run_id, tags={"phase": "2"}) as again:
        assert again.run_id == run.run_id
        assert client().get_run(run.run_id).info.status == "RUNNING"
        loopml.log_metric("m", 2.0)
    got = client().get_run(run.run_id)
    assert got.info.status == "FINISHED" and got.data.params == {"a": "1"}
    assert got.data.metrics["m"].value == 2.0 and got.data.tags["phase"] == "2"


def test_resume_missing_or_deleted_run():
    with pytest.raises(ResourceDoesNotExist, match="no such run"):
        loopml.start_run(run_id="0" * 32)
    with loopml.start_run() as run:
        pass
    client().delete_run(run.run_id)
    with pytest.raises(InvalidState, match="loopml runs restore"):
        loopml.start_run(run_id=run.run_id)
    assert loopml.active_run() is None
    client().restore_run(run.run_id)
    with loopml.start_run(run_id=run.run_id):
        pass
    assert client().get_run(run.run_id).info.lifecycle_stage == "active"
