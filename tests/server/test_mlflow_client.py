"""The unmodified mlflow client against loopml server."""

from __future__ import annotations

import math

import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402


def _same(a: float, b: float) -> bool:
    if math.isnan(b):
        return math.isnan(a)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


def test_fluent_logging_and_history(mlflow_client_env: str) -> None:
    mlflow.set_experiment("client-fluent")
    values = [1.5, math.nan, math.inf, -math.inf, -0.0]
    with mlflow.start_run() as run:
        mlflow.log_param("lr", 0.1)
        for i, v in enumerate(values):
            mlflow.log_metric("m", v, step=i)
        mlflow.log_metrics({"a": 1.0, "b": 2.0}, step=3)
        mlflow.set_tag("team", "ml")
    c = MlflowClient()
    hist = c.get_metric_history(run.info.run_id, "m")
    assert len(hist) == len(values)
    for m, v in zip(hist, values, strict=True):
        assert _same(m.value, v), (m.value, v)
    got = c.get_run(run.info.run_id)
    assert got.data.params == {"lr": "0.1"} and got.data.tags["team"] == "ml"
    assert got.info.status == "FINISHED"
    assert got.info.artifact_uri.startswith("mlflow-artifacts:/")


def test_artifacts_round_trip(mlflow_client_env: str, tmp_path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.txt").write_text("beta")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(src / "a.txt"))
        mlflow.log_artifacts(str(src), "tree")
    c = MlflowClient()
    assert {f.path for f in c.list_artifacts(run.info.run_id)} == {"a.txt", "tree"}
    assert {f.path for f in c.list_artifacts(run.info.run_id, "tree/sub")} == {"tree/sub/b.txt"}
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="tree",
                                                dst_path=str(tmp_path / "dl"))
    from pathlib import Path

    assert (Path(local) / "sub" / "b.txt").read_text() == "beta"


def test_sklearn_log_model_and_load(mlflow_client_env: str) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(X, y)
    with mlflow.start_run() as run:
        mlflow.log_metric("acc", 0.9)
        info = mlflow.sklearn.log_model(model, name="model")
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert list(pyfunc.predict(X[:5])) == list(model.predict(X[:5]))
    assert list(mlflow.sklearn.load_model(info.model_uri).predict(X[:5])) == list(model.predict(X[:5]))
    # log_model re-logs the run's metrics to link them to the model: stored once, not twice.
    assert len(MlflowClient().get_metric_history(run.info.run_id, "acc")) == 1
    lm = MlflowClient().get_logged_model(info.model_id)
    assert lm.status.to_proto() == 2 or str(lm.status).endswith("READY")


def test_autolog(mlflow_client_env: str) -> None:
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True)
    mlflow.autolog(log_models=False)
    try:
        with mlflow.start_run() as run:
            DecisionTreeClassifier(max_depth=2).fit(X, y)
    finally:
        mlflow.autolog(disable=True)
    data = MlflowClient().get_run(run.info.run_id).data
    assert "training_accuracy_score" in data.metrics and data.params["max_depth"] == "2"


def test_search_runs_filter_order_paging(mlflow_client_env: str) -> None:
    c = MlflowClient()
    exp = c.create_experiment("client-search")
    ids = []
    for i in range(7):
        r = c.create_run(exp, run_name=f"r{i}")
        c.log_metric(r.info.run_id, "score", float(i))
        c.log_param(r.info.run_id, "kind", "odd" if i % 2 else "even")
        c.set_terminated(r.info.run_id)
        ids.append(r.info.run_id)
    res = c.search_runs([exp], "metrics.score >= 2 AND params.kind = 'odd'",
                        order_by=["metrics.score DESC"])
    assert [r.info.run_id for r in res] == [ids[5], ids[3]]
    res = c.search_runs([exp], "params.kind = 'even' OR metrics.score = 1")  # OR: loopml extension
    assert {r.info.run_id for r in res} == {ids[0], ids[1], ids[2], ids[4], ids[6]}
    page = c.search_runs([exp], max_results=3, order_by=["metrics.score ASC"])
    assert [r.info.run_id for r in page] == ids[:3] and page.token
    page2 = c.search_runs([exp], max_results=3, order_by=["metrics.score ASC"], page_token=page.token)
    assert [r.info.run_id for r in page2] == ids[3:6]
    assert len(mlflow.search_runs([exp])) == 7  # pandas DataFrame path


def test_lifecycle_and_errors(mlflow_client_env: str) -> None:
    c = MlflowClient()
    exp = c.create_experiment("client-life")
    assert c.get_experiment_by_name("client-life").experiment_id == exp
    with pytest.raises(MlflowException) as e:
        c.create_experiment("client-life")
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    run = c.create_run(exp)
    c.delete_run(run.info.run_id)
    assert c.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    c.restore_run(run.info.run_id)
    c.delete_experiment(exp)
    assert c.get_experiment(exp).lifecycle_stage == "deleted"
    c.restore_experiment(exp)
    with pytest.raises(MlflowException) as e:
        c.get_run("0" * 32)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as e:
        c.log_param(run.info.run_id, "p", "1")
        c.log_param(run.info.run_id, "p", "2")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as e:
        c.search_runs([exp], "metrics.x >> 1")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
