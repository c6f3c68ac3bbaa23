"""The build's data checks: every bad input gets a message that names the problem."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopml.automl import BuildInputError, inspect_frame, suggest_task


def _frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] + 0.8 * rng.normal(size=n) > 0).astype(int)
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": rng.choice(["u", "v"], n), "y": y})


def test_a_clean_frame_reports_schema_and_task() -> None:
    r = inspect_frame(_frame(), "y")
    assert r["task"] == "binary" and r["suggested_task"] == "binary"
    assert r["numeric"] == ["a", "b"] and r["categorical"] == ["c"]
    assert r["classes"] == [0, 1] and r["warnings"] == []


@pytest.mark.parametrize(("values", "task"), [
    (np.arange(200) % 2, "binary"), (np.arange(200) % 5, "multiclass"),
    (np.linspace(0, 1, 200), "regression"), (np.array(["a", "b", "c", "d"] * 50), "multiclass"),
])
def test_task_suggested_from_the_label(values, task) -> None:  # type: ignore[no-untyped-def]
    assert suggest_task(pd.Series(values)) == task


def test_constant_and_id_columns_are_dropped_with_a_warning() -> None:
    f = _frame().assign(const=1, row_id=np.arange(200), name=[f"n{i}" for i in range(200)])
    r = inspect_frame(f, "y")
    assert r["dropped"] == {"const": "constant", "row_id": "ID-like", "name": "ID-like"}
    assert len(r["warnings"]) == 3 and "row_id" not in r["features"]


@pytest.mark.parametrize(("mutate", "needle"), [
    (lambda f: f.iloc[:0], "empty"),
    (lambda f: f.assign(y=1), "one class"),
    (lambda f: f.assign(y=[f"id{i}" for i in range(len(f))]), "looks like an ID"),
    (lambda f: f.assign(b=[("x" if i % 3 else str(i)) for i in range(len(f))]), "mixes numbers and text"),
    (lambda f: f.assign(leak=f["y"] * 2 + 1), "Target leakage: column 'leak'"),
    (lambda f: f.drop(columns=["y"]), "No target column 'y'"),
    (lambda f: f.assign(y=[0] * (len(f) - 2) + [1, 1]), "only 2 row"),
])
def test_bad_inputs_have_clear_messages(mutate, needle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BuildInputError, match=needle):
        inspect_frame(mutate(_frame()), "y")


def test_imbalance_is_a_warning_and_switches_the_metric() -> None:
    f = _frame(400)
    f["y"] = [1 if i % 20 == 0 else 0 for i in range(400)]
    r = inspect_frame(f, "y")
    assert r.get("imbalanced") and "imbalance" in r["warnings"][0]


def test_a_task_that_does_not_fit_the_label_is_refused() -> None:
    with pytest.raises(BuildInputError, match="exactly two classes"):
        inspect_frame(_frame().assign(y=np.arange(200) % 3), "y", task="binary")
    with pytest.raises(BuildInputError, match="numeric target"):
        inspect_frame(_frame().assign(y=["a", "b"] * 100), "y", task="regression")
