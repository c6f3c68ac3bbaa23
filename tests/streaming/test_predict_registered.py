"""The predict operator on registered models: URI resolution at lint time, signature checks,
scoring per micro-batch, the inference log, and the alias hot swap between batches."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import loopml
from loopml import models
from loopml.errors import InvalidConfig
from loopml.inference_log import InferenceLogReader
from loopml.store import get_registry_store
from loopml.streaming import App, compile_rules

from .conftest import app

SCHEMA = {"m": "str", "a": "float64", "b": "float64", "ts": "int64"}


def _app(*rules, **extra):  # type: ignore[no-untyped-def]
    return {"app": "line", "time": {"lateness": 0},
            "sources": {"s": {"key": "m", "event_time": "ts", "schema": dict(SCHEMA)}},
            "rules": list(rules), **extra}


def _rows(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"m": np.array([f"k{i % 3}" for i in range(n)], dtype=object),
            "a": rng.normal(size=n), "b": rng.normal(size=n),
            "ts": seed * 100_000 + np.arange(n, dtype=np.int64) * 10}  # later seeds, later times


@pytest.fixture
def registry(embedded_home):  # type: ignore[no-untyped-def]
    """Two versions of model ``fail`` (v1 says 1 when a > 0, v2 when b > 0), alias
    ``champion`` on v1."""
    import loopml.tracking._fluent as fluent

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    clfs = []
    for target in ("a", "b"):
        clfs.append(LogisticRegression().fit(x, (x[target] > 0).astype(int)))
        with loopml.start_run():
            models.log_model(clfs[-1], "model", registered_model_name="fail", input_example=x.head(3))
    reg = get_registry_store(fluent.client().store)
    reg.set_registered_model_alias("fail", "champion", 1)
    reg.clfs = clfs
    return reg


def _expect(clf, rows) -> list[int]:  # type: ignore[no-untyped-def]
    return clf.predict(pd.DataFrame({"a": rows["a"], "b": rows["b"]})).tolist()  # type: ignore[no-any-return]


def test_predict_scores_logs_and_hot_swaps(registry, tmp_path) -> None:
    spec = _app({"name": "scored", "from": "s",
                 "predict": {"model": "fail", "inputs": ["a", "b"], "output": "y", "proba": "p"}},
                {"name": "alarm", "from": "scored", "where": "y == 1 and p > 0.5", "select": ["m", "p"]},
                models={"fail": {"uri": "models:/fail@champion", "refresh": 0}})
    plan = compile_rules(spec, inference_log=str(tmp_path / "log"))
    first = _rows(50, 1)
    out = plan.run_batches([("s", first)])
    assert out["scored"].column("y").to_pylist() == _expect(registry.clfs[0], first)
    p = registry.clfs[0].predict_proba(pd.DataFrame({"a": first["a"], "b": first["b"]}))[:, 1]
    assert np.allclose(out["scored"].column("p").to_numpy(), p)
    assert out["alarm"].num_rows == int((p > 0.5).sum())
    assert plan.models["scored"].version == "1"

    registry.set_registered_model_alias("fail", "champion", 2)  # promotion: v2 takes over
    second = _rows(40, 2)
    out = plan.run_batches([("s", second)])
    assert out["scored"].column("y").to_pylist() == _expect(registry.clfs[1], second)
    assert plan.models["scored"].version == "2" and plan.models["scored"].swaps == 1
    plan.close()

    df = InferenceLogReader(str(tmp_path / "log")).read("line")
    assert df["version"].tolist() == ["1", "2"]  # one record per scored batch, by version
    assert df["model"].tolist() == ["fail", "fail"]
    assert df["request_id"].str.startswith("line-scored-").all()
    first_inputs = df["inputs"].iloc[0]
    assert np.allclose(first_inputs["a"], first["a"]) and set(first_inputs) == {"a", "b"}
    assert json.loads(df["outputs"].iloc[1]) == _expect(registry.clfs[1], second)


def test_alias_is_not_followed_before_refresh(registry) -> None:
    plan = compile_rules(_app({"name": "scored", "from": "s",
                               "predict": {"model": "models:/fail@champion", "inputs": ["a", "b"]}}))
    plan.run_batches([("s", _rows(5, 1))])
    registry.set_registered_model_alias("fail", "champion", 2)
    plan.run_batches([("s", _rows(5, 2))])  # the default refresh (5 s) has not passed
    assert plan.models["scored"].version == "1"


def test_unresolvable_uri_and_bad_inputs_are_lint_errors(registry) -> None:
    with pytest.raises(InvalidConfig) as e:
        compile_rules(_app({"name": "x", "from": "s",
                            "predict": {"model": "models:/fail@nobody", "inputs": ["a", "b"]}}))
    assert "rules[0].predict.model" in str(e.value) and "does not resolve" in str(e.value)
    with pytest.raises(InvalidConfig, match="needs column"):
        compile_rules(_app({"name": "x", "from": "s", "predict": {"model": "models:/fail/1", "inputs": ["a"]}}))
    with pytest.raises(InvalidConfig, match="str column"):
        compile_rules(_app({"name": "x", "from": "s", "select": {"a": "m", "b": "b"},
                            "predict": {"model": "models:/fail/1", "inputs": ["a", "b"]}}))
    with pytest.raises(InvalidConfig, match="no model registered as 'nothing'"):
        compile_rules(app({"name": "x", "from": "s", "predict": {"model": "nothing", "inputs": ["v"]}}))


def test_builder_and_refused_swap(registry, embedded_home) -> None:
    """The builder declares models; a promoted version whose signature no longer fits the
    rule is refused and the old one keeps scoring."""
    b = App("line")
    b.model("fail", "models:/fail@champion", refresh=0)
    b.source("s", key="m", event_time="ts", schema=SCHEMA).predict("fail", ["a", "b"], "y").as_("scored")
    plan = b.compile()
    rng = np.random.default_rng(3)
    x = pd.DataFrame({"c": rng.normal(size=50)})
    with loopml.start_run():
        models.log_model(LogisticRegression().fit(x, x["c"] > 0), "model",
                         registered_model_name="fail", input_example=x.head(2))
    registry.set_registered_model_alias("fail", "champion", 3)
    rows = _rows(10, 4)
    out = plan.run_batches([("s", rows)])
    assert out["scored"].column("y").to_pylist() == _expect(registry.clfs[0], rows)
    assert plan.models["scored"].refused == 1 and plan.models["scored"].version == "1"
    assert "predict(fail)" in plan.explain()
