"""loopml.autolog on scikit-learn: the same params, metric names and values as
mlflow.sklearn.autolog on the same script, one run per outermost fit, the model loadable."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import loopml
from loopml import models
from loopml.errors import InvalidParameterValue
from tests.tracking.autolog.conftest import artifacts, runs

CLASSIFIER_METRICS = {"training_accuracy_score", "training_precision_score", "training_recall_score",
                      "training_f1_score", "training_log_loss", "training_roc_auc", "training_score"}


def test_classifier_run_contents():
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x = x.iloc[:, :5]
    loopml.autolog()
    clf = LogisticRegression(max_iter=500, C=0.5).fit(x, y)
    (run,) = runs()
    assert run.info.status == "FINISHED"
    assert run.data.params["C"] == "0.5" and run.data.params["max_iter"] == "500"
    assert set(run.data.metrics) == CLASSIFIER_METRICS
    assert run.data.metrics["training_accuracy_score"].value == pytest.approx(clf.score(x, y))
    assert run.data.tags["estimator_name"] == "LogisticRegression"
    assert run.data.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    files = artifacts(run.info.run_id)
    assert {"estimator.html", "training_confusion_matrix.svg", "training_roc_curve.svg",
            "training_precision_recall_curve.svg", "model/MLmodel"} <= files
    (ds,) = run.inputs.dataset_inputs
    assert {t.key: t.value for t in ds.tags}["mlflow.data.context"] == "train"
    loaded = models.load(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(loaded.predict(x[:7]), clf.predict(x[:7]))
    mlmodel = (loopml.tracking.client().artifact_store(run.info.artifact_uri)
               .get_bytes("model/MLmodel").decode())
    assert "signature:" in mlmodel and "saved_input_example_info" in mlmodel


def test_same_params_and_metrics_as_mlflow_autolog(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)  # MLflow's sqlite store puts artifacts under ./mlruns
    x, y = load_iris(return_X_y=True)

    def script() -> None:
        LogisticRegression(max_iter=300, C=0.7).fit(x, y)

    loopml.autolog(log_models=False)
    script()
    (ours,) = runs()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("autolog-parity")  # not an experiment id left by an earlier test
    mlflow.sklearn.autolog(log_models=False, log_datasets=False, silent=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mlflow.start_run() as r:
                script()
    finally:
        mlflow.sklearn.autolog(disable=True)
    ref = mlflow.MlflowClient().get_run(r.info.run_id).data
    assert ours.data.params == ref.params
    assert set(ours.data.metrics) == set(ref.metrics)
    for key, value in ref.metrics.items():
        assert ours.data.metrics[key].value == pytest.approx(value, rel=1e-9), key
    assert {k: v for k, v in ours.data.tags.items() if k.startswith("estimator")} == \
        {k: v for k, v in ref.tags.items() if k.startswith("estimator")}


def test_regressor_metric_names():
    x, y = load_diabetes(return_X_y=True)
    loopml.autolog(log_models=False, log_datasets=False)
    LinearRegression().fit(x, y)
    (run,) = runs()
    assert set(run.data.metrics) == {
        "training_mean_squared_error", "training_root_mean_squared_error",
        "training_mean_absolute_error", "training_r2_score", "training_score"}


def test_pipeline_and_search_log_one_run_each_with_nested_params():
    x, y = load_iris(return_X_y=True)
    loopml.autolog(log_models=False, log_datasets=False)
    make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(x, y)
    GridSearchCV(LogisticRegression(max_iter=300), {"C": [0.1, 1.0]}, cv=2).fit(x, y)
    pipe, search = runs()  # the inner fits (scaler, clones) logged nothing of their own
    assert pipe.data.params["logisticregression__max_iter"] == "300"
    assert pipe.data.tags["estimator_name"] == "Pipeline"
    assert search.data.params["best_C"] in {"0.1", "1.0"}
    assert "best_cv_score" in search.data.metrics


def test_active_run_is_used_and_left_open():
    x, y = load_iris(return_X_y=True)
    loopml.autolog(log_models=False)
    with loopml.start_run() as active:
        LogisticRegression(max_iter=300).fit(x, y)
        assert loopml.active_run().info.run_id == active.info.run_id
    (run,) = runs()
    assert run.info.run_id == active.info.run_id and "training_score" in run.data.metrics


def test_failed_fit_ends_its_run_failed_and_raises():
    loopml.autolog(log_models=False)
    with pytest.raises(ValueError):
        LogisticRegression().fit(np.zeros((4, 2)), np.zeros(3))
    (run,) = runs()
    assert run.info.status == "FAILED"


def test_logging_failure_warns_and_training_goes_on(monkeypatch):
    from loopml.tracking.autolog import _sklearn

    def broken(*_a, **_k):
        raise RuntimeError("metrics store down")

    monkeypatch.setattr(_sklearn, "classifier_metrics", broken)
    x, y = load_iris(return_X_y=True)
    loopml.autolog(log_models=False)
    with pytest.warns(UserWarning, match="metrics store down"):
        clf = LogisticRegression(max_iter=300).fit(x, y)
    assert clf.score(x, y) > 0.9


def test_disable_restores_the_original_fit():
    original = LogisticRegression.fit
    loopml.autolog()
    assert LogisticRegression.fit is not original
    loopml.autolog(disable=True)
    assert LogisticRegression.fit is original
    LogisticRegression(max_iter=300).fit(*load_iris(return_X_y=True))
    store = loopml.tracking.client().store
    assert store.get_experiment_by_name("Default") is None or not runs()


def test_unknown_flavor_is_refused():
    with pytest.raises(InvalidParameterValue, match="'flavors' parameter of autolog"):
        loopml.autolog(flavors=["sklearn", "keras"])


def test_last_active_run_is_the_run_autolog_ended():
    assert loopml.last_active_run() is None
    loopml.autolog(log_models=False, log_datasets=False)
    LinearRegression().fit(*load_diabetes(return_X_y=True))
    (run,) = runs()
    last = loopml.last_active_run()
    assert last.info.run_id == run.info.run_id and "training_r2_score" in last.data.metrics
