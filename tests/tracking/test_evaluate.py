"""loopml.evaluate: metrics against scikit-learn's own, SVG plots as run artifacts."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression

import loopml
from loopml.errors import InvalidParameterValue
from loopml.tracking._fluent import client

PLOTS = {"confusion_matrix", "roc_curve_plot", "precision_recall_curve_plot", "calibration_curve_plot"}


@pytest.fixture(autouse=True)
def embedded(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPML_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LOOPML_TRACKING_URI", raising=False)
    loopml.set_tracking_uri(None)
    yield
    while loopml.active_run():
        loopml.end_run()
    loopml.set_tracking_uri(None)


def _svg(run_id: str, path: str) -> ET.Element:
    c = client()
    raw = c.artifact_store(c.get_run(run_id).info.artifact_uri).get_bytes(path)
    return ET.fromstring(raw)  # well-formed XML, renders standalone


def test_binary_classifier_metrics_and_plots():
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x = x.iloc[:, :4]  # a few columns: fast to fit, still an imperfect classifier
    model = LogisticRegression(max_iter=1000).fit(x, y)
    data = x.assign(label=y)
    with loopml.start_run() as run:
        res = loopml.evaluate(model, data, targets="label")
    assert res.run_id == run.run_id
    pred, proba = model.predict(x), model.predict_proba(x)
    assert res.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert res.metrics["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert res.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]))
    assert res.metrics["log_loss"] == pytest.approx(skm.log_loss(y, proba))
    assert {"precision", "recall"} <= set(res.metrics)
    assert set(res.artifacts) == PLOTS
    logged = client().get_run(run.run_id).data.metrics
    assert {k: m.value for k, m in logged.items()} == pytest.approx(res.metrics)
    assert sorted(client().list_artifacts(run.run_id)) == sorted(f"{p}.svg" for p in PLOTS)
    for path in res.artifacts.values():
        assert _svg(run.run_id, path).tag.endswith("svg")


def test_multiclass_arrays_without_active_run_and_prefix():
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(x, y)
    res = loopml.evaluate(model, x, y, prefix="val_")
    assert loopml.active_run() is None  # its own run, ended
    run = client().get_run(res.run_id)
    assert run.info.status == "FINISHED"
    assert res.metrics["val_roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, model.predict_proba(x), multi_class="ovr"))
    assert res.artifacts["roc_curve_plot"] == "val_roc_curve_plot.svg"
    assert "val_f1" in run.data.metrics


def test_classifier_without_proba_gets_no_curves():
    class Const:
        def predict(self, x):
            return np.ones(len(x), dtype=int)

    with loopml.start_run():
        res = loopml.evaluate(Const(), np.zeros((4, 2)), [0, 1, 1, 1])
    assert res.metrics["accuracy"] == 0.75 and "roc_auc" not in res.metrics
    assert set(res.artifacts) == {"confusion_matrix"}


def test_regressor():
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50)})
    y = 2 * x["a"] - x["b"] + rng.normal(scale=0.1, size=50)
    model = LinearRegression().fit(x, y)
    with loopml.start_run():
        res = loopml.evaluate(model, x, y.to_numpy(), model_type="regressor")
    pred = model.predict(x)
    assert res.metrics["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)))
    assert res.metrics["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert res.metrics["r2"] == pytest.approx(skm.r2_score(y, pred))
    assert res.artifacts == {}


def test_bad_input():
    x = pd.DataFrame({"a": [1.0, 2.0]})
    model = LinearRegression().fit(x, [1.0, 2.0])
    with pytest.raises(InvalidParameterValue, match="model_type"):
        loopml.evaluate(model, x, [1, 2], model_type="ranker")
    with pytest.raises(InvalidParameterValue, match="columns: \\['a'\\]"):
        loopml.evaluate(model, x, "label")
    with pytest.raises(InvalidParameterValue, match="one label per row"):
        loopml.evaluate(model, x, [1, 2, 3])
    with pytest.raises(InvalidParameterValue, match="predict method"):
        loopml.evaluate(object(), x, [1, 2])
    assert loopml.active_run() is None


def test_model_uri_loaded_through_loopml_models():
    from loopml import models

    x, y = load_iris(return_X_y=True, as_frame=True)
    with loopml.start_run() as run:
        models.log_model(LogisticRegression(max_iter=500).fit(x, y), "model", input_example=x[:5])
        res = loopml.evaluate(f"runs:/{run.run_id}/model", x, y.to_numpy())
    assert res.metrics["accuracy"] > 0.9 and "roc_auc" in res.metrics
    assert set(res.artifacts) == PLOTS
