"""loopml.autolog on LightGBM and XGBoost: metrics per boosting iteration under MLflow's
``<data>-<metric>`` names, importances, the model; the scikit-learn API logs one run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

import loopml
from loopml import models
from loopml.tracking._fluent import client
from tests.tracking.autolog.conftest import artifacts, metric_history, runs

lgb = pytest.importorskip("lightgbm")
xgb = pytest.importorskip("xgboost")


@pytest.fixture(scope="module")
def data():
    x, y = load_breast_cancer(return_X_y=True)
    return x[:400], y[:400], x[400:], y[400:]


def test_lightgbm_train_logs_each_iteration(data):
    x, y, xv, yv = data
    loopml.autolog()
    train, valid = lgb.Dataset(x, y), lgb.Dataset(xv, yv)
    booster = lgb.train({"objective": "binary", "metric": "binary_logloss", "verbose": -1,
                         "num_leaves": 7}, train, num_boost_round=5, valid_sets=[valid],
                        valid_names=["valid"])
    (run,) = runs()
    assert run.data.params["num_leaves"] == "7" and run.data.params["num_boost_round"] == "5"
    hist = metric_history(run.info.run_id, "valid-binary_logloss")
    assert [step for step, _ in hist] == [0, 1, 2, 3, 4]
    assert hist[-1][1] < hist[0][1]  # the loss fell
    files = artifacts(run.info.run_id)
    assert {"feature_importance_split.json", "feature_importance_gain.json", "model/MLmodel"} <= files
    split = json.loads(client().artifact_store(run.info.artifact_uri)
                       .get_bytes("feature_importance_split.json"))
    assert sum(split.values()) == pytest.approx(booster.feature_importance("split").sum())
    loaded = models.load(f"runs:/{run.info.run_id}/model")
    np.testing.assert_allclose(np.ravel(loaded.predict(xv[:5])), booster.predict(xv[:5]), rtol=1e-6)


def test_lgbm_classifier_fit_is_one_run_with_iteration_metrics(data):
    x, y, xv, yv = data
    loopml.autolog(log_datasets=False)
    clf = lgb.LGBMClassifier(n_estimators=4, num_leaves=5, verbose=-1)
    clf.fit(x, y, eval_set=[(xv, yv)])
    (run,) = runs()
    assert run.data.params["n_estimators"] == "4"
    assert run.data.tags["estimator_name"] == "LGBMClassifier"
    assert len(metric_history(run.info.run_id, "valid_0-binary_logloss")) == 4
    loaded = models.load(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(loaded.predict(xv[:6]), clf.predict(xv[:6]))


def test_xgboost_train_logs_each_iteration(data):
    x, y, xv, yv = data
    loopml.autolog(log_datasets=False)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2, "eval_metric": "logloss"},
                        xgb.DMatrix(x, y), num_boost_round=4,
                        evals=[(xgb.DMatrix(xv, yv), "valid")], verbose_eval=False)
    (run,) = runs()
    assert run.data.params["max_depth"] == "2"
    assert [s for s, _ in metric_history(run.info.run_id, "valid-logloss")] == [0, 1, 2, 3]
    assert run.data.metrics["stopped_iteration"].value == 3
    assert {"feature_importance_weight.json", "model/MLmodel"} <= artifacts(run.info.run_id)
    loaded = models.load(f"runs:/{run.info.run_id}/model")
    np.testing.assert_allclose(np.ravel(loaded.predict(xv[:5])),
                               booster.predict(xgb.DMatrix(xv[:5])), rtol=1e-6)


def test_xgb_classifier_fit_is_one_run(data):
    x, y, xv, yv = data
    loopml.autolog(log_datasets=False, log_models=False)
    xgb.XGBClassifier(n_estimators=3, max_depth=2).fit(x, y, eval_set=[(xv, yv)], verbose=False)
    (run,) = runs()
    assert run.data.params["max_depth"] == "2"
    assert len(metric_history(run.info.run_id, "validation_0-logloss")) == 3
