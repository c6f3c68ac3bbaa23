"""The same script, run with the unmodified mlflow client against MLflow's own file store and
against a loopml server, leaves the same run contents: params, metric keys, tags that carry
meaning (mlflow.loggedArtifacts) and artifact names and bytes (log_dict, log_text, log_table,
log_figure when matplotlib is installed),
and the same for mlflow.sklearn.autolog's params and metric keys."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import LiveServer, start_server

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402

# log_figure joins the comparison where matplotlib is installed (it is no loopml dependency).
HAVE_MPL = importlib.util.find_spec("matplotlib") is not None


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    srv = start_server(tmp_path_factory.mktemp("parity"))
    yield srv
    srv.stop()


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    return fig


def _script() -> str:
    mlflow.set_experiment("parity")
    with mlflow.start_run() as run:
        mlflow.log_params({"lr": 0.1, "depth": 3})
        mlflow.log_metric("loss", 0.5, step=1)
        mlflow.log_dict({"a": [1, 2], "b": {"c": "d"}}, "config/params.json")
        mlflow.log_dict({"a": [1, 2]}, "config/params.yaml")
        mlflow.log_text("hello\n", "notes/readme.txt")
        mlflow.log_table({"q": ["x", "y"], "score": [0.5, 0.25]}, "eval/table.json")
        mlflow.log_table({"q": ["z"], "score": [1.0]}, "eval/table.json")  # appended
        if HAVE_MPL:
            mlflow.log_figure(_figure(), "plots/line.png")
    return str(run.info.run_id)


def _artifacts(c: MlflowClient, run_id: str, path: str | None = None) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for f in c.list_artifacts(run_id, path):
        if f.is_dir:
            out.update(_artifacts(c, run_id, f.path))
        else:
            local = c.download_artifacts(run_id, f.path)
            out[f.path] = Path(local).read_bytes()
    return out


def _contents(run_id: str) -> dict[str, Any]:
    c = MlflowClient()
    run = c.get_run(run_id)
    return {"params": run.data.params, "metrics": sorted(run.data.metrics),
            "logged": run.data.tags.get("mlflow.loggedArtifacts"), "artifacts": _artifacts(c, run_id)}


def _both(tmp_path: Path, server: LiveServer, monkeypatch, body: Any) -> tuple[Any, Any]:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # the quick reference store, no migrations
    results = []
    for uri in ((tmp_path / "mlruns").as_uri(), server.url):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        results.append(body())
    mlflow.set_tracking_uri(None)
    return results[0], results[1]


def test_log_objects_same_on_mlflow_and_loopml(tmp_path: Path, server: LiveServer, monkeypatch) -> None:
    ref, got = _both(tmp_path, server, monkeypatch, lambda: _contents(_script()))
    assert got["params"] == ref["params"] == {"lr": "0.1", "depth": "3"}
    assert got["metrics"] == ref["metrics"]
    assert got["logged"] == ref["logged"]
    assert sorted(got["artifacts"]) == sorted(ref["artifacts"])
    assert got["artifacts"] == ref["artifacts"]  # byte for byte, the table appended


def test_loopml_fluent_writes_what_mlflow_writes(tmp_path: Path, server: LiveServer, monkeypatch) -> None:
    """loopml's own log_dict/log_text/log_table (remote, through the server's artifact proxy)
    produce the bytes mlflow's do."""
    import loopml

    ref, _ = _both(tmp_path, server, monkeypatch, lambda: _contents(_script()))
    loopml.set_tracking_uri(server.url)
    try:
        with loopml.start_run(experiment="parity-loopml") as run:
            loopml.log_params({"lr": 0.1, "depth": 3})
            loopml.log_metric("loss", 0.5, step=1)
            loopml.log_dict({"a": [1, 2], "b": {"c": "d"}}, "config/params.json")
            loopml.log_dict({"a": [1, 2]}, "config/params.yaml")
            loopml.log_text("hello\n", "notes/readme.txt")
            loopml.log_table({"q": ["x", "y"], "score": [0.5, 0.25]}, "eval/table.json")
            loopml.log_table({"q": ["z"], "score": [1.0]}, "eval/table.json")
            if HAVE_MPL:
                loopml.log_figure(_figure(), "plots/line.png")
        loopml.flush()
    finally:
        loopml.set_tracking_uri(None)
    mlflow.set_tracking_uri(server.url)
    try:
        got = _contents(run.run_id)
    finally:
        mlflow.set_tracking_uri(None)
    assert got["params"] == ref["params"] and got["metrics"] == ref["metrics"]
    assert got["logged"] == ref["logged"] and got["artifacts"] == ref["artifacts"]


def _autolog_run() -> dict[str, Any]:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    mlflow.set_experiment("parity-autolog")
    mlflow.sklearn.autolog(log_models=False, log_datasets=False, silent=True)
    try:
        with mlflow.start_run() as run:
            LogisticRegression(max_iter=200, C=0.5).fit(x, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    c = MlflowClient()
    r = c.get_run(run.info.run_id)
    return {"params": r.data.params, "metrics": sorted(r.data.metrics),
            "artifacts": sorted(_artifacts(c, run.info.run_id)),
            "tags": sorted(k for k in r.data.tags if k.startswith("estimator"))}


def test_sklearn_autolog_same_on_mlflow_and_loopml(tmp_path: Path, server: LiveServer, monkeypatch) -> None:
    pytest.importorskip("sklearn")
    ref, got = _both(tmp_path, server, monkeypatch, _autolog_run)
    assert got["params"] == ref["params"] and got["params"]["C"] == "0.5"
    assert got["metrics"] == ref["metrics"] and "training_accuracy_score" in got["metrics"]
    assert got["artifacts"] == ref["artifacts"]
    assert got["tags"] == ref["tags"]


def _autolog_model_run() -> dict[str, Any]:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    mlflow.set_experiment("parity-autolog-model")
    mlflow.sklearn.autolog(log_models=True, log_datasets=False, silent=True)
    try:
        with mlflow.start_run() as run:
            LogisticRegression(max_iter=200).fit(x, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    found = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list")
    c = MlflowClient()
    return {"models": [(m.name, m.source_run_id == run.info.run_id) for m in found],
            "files": sorted(f.path for m in found for f in c.list_logged_model_artifacts(m.model_id))}


@pytest.mark.slow
def test_sklearn_autolog_logged_model_same(tmp_path: Path, server: LiveServer, monkeypatch) -> None:
    """MLflow 3's autolog logs the model as a LoggedModel linked to the run: same on both."""
    ref, got = _both(tmp_path, server, monkeypatch, _autolog_model_run)
    assert got == ref
    assert got["models"] == [("model", True)] and "MLmodel" in got["files"]
