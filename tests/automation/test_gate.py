"""The gate's per-split conditions: improvement on recent traffic with a bounded regression on
the holdout, minimum rows, confidence intervals, and ties; and the lossless integer casts
that let an int64-signature champion be scored on logged traffic."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopml.automation import Policy
from loopml.automation import _evaluate as ev
from loopml.automation._gate import decide
from loopml.errors import InvalidParameterValue


def _policy(**gate: Any) -> Policy:
    return Policy.from_dict({"model": "m", "deployment": "d", "log_dir": "/tmp/x",
                             "retrain": {"pipeline": "a:b"},
                             "evaluate": {"metric": "f1"}, "gate": gate})


def _split(ch: float, champ: float, rows: int = 500, **extra: Any) -> dict[str, Any]:
    return {"challenger": {"f1": ch}, "champion": {"f1": champ}, "rows": rows, **extra}


def _gate(policy: Policy, **splits: Any) -> dict[str, Any]:
    return decide(policy, {"metric": "f1", **splits})


def test_better_on_recent_traffic_no_worse_on_the_holdout() -> None:
    p = _policy(recent={"min_improvement": 0.05, "min_rows": 100},
                holdout={"max_regression": 0.02})
    # The shuttle case: a normal holdout near the ceiling, recent traffic far apart.
    assert _gate(p, holdout=_split(0.975, 0.982), recent=_split(1.0, 0.53))["passed"]
    g = _gate(p, holdout=_split(0.90, 0.982), recent=_split(1.0, 0.53))
    assert not g["passed"] and "holdout f1" in g["failures"][0] and "regression" in g["failures"][0]
    g = _gate(p, holdout=_split(0.982, 0.982), recent=_split(0.56, 0.53))
    assert not g["passed"] and "recent f1" in g["failures"][0]
    g = _gate(p, holdout=_split(0.982, 0.982), recent=_split(1.0, 0.53, rows=40))
    assert not g["passed"] and "40 rows < min_rows 100" in g["failures"][0]
    g = _gate(p, holdout=_split(0.982, 0.982))
    assert not g["passed"] and "recent: no labelled rows" in g["failures"][0]


def test_the_legacy_min_improvement_applies_to_every_split_without_a_rule() -> None:
    p = _policy(min_improvement=0.02)
    assert not _gate(p, holdout=_split(0.95, 0.94))["passed"]
    assert _gate(p, holdout=_split(0.97, 0.94))["passed"]


def test_ties_do_not_promote_unless_the_policy_says_so() -> None:
    p = _policy(min_improvement=0.0)
    g = _gate(p, holdout=_split(0.9, 0.9), recent=_split(0.8, 0.8))
    assert not g["passed"] and "a tie" in g["failures"][0]
    assert _gate(_policy(min_improvement=0.0, allow_ties=True),
                 holdout=_split(0.9, 0.9))["passed"]


def test_the_interval_lower_bound_decides_when_a_confidence_is_set() -> None:
    p = _policy(recent={"min_improvement": 0.0}, confidence=0.9)
    g = _gate(p, recent=_split(0.70, 0.60, interval=[-0.05, 0.25]))
    assert not g["passed"] and "interval low -0.0500" in g["failures"][0]
    assert _gate(p, recent=_split(0.70, 0.60, interval=[0.04, 0.16]))["passed"]


def test_paired_bootstrap_interval() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    good = np.where(rng.uniform(size=400) < 0.95, y, 1 - y)
    coin = rng.integers(0, 2, 400)
    lo, hi = ev.paired_delta("classification", "f1", good.tolist(), coin.tolist(), y.tolist(),
                             0.9, 1.0)
    assert 0.3 < lo < hi < 0.6
    lo, hi = ev.paired_delta("classification", "f1", good.tolist(), good.tolist(), y.tolist(),
                             0.9, 1.0)
    assert lo == hi == 0.0


@pytest.mark.parametrize("gate,match", [
    ({"recent": {"min_rows": 10, "min_gain": 1}}, "gate.recent"),
    ({"confidence": 1.5}, "confidence"),
    ({"holdout": 3}, "gate.holdout: expected a mapping"),
])
def test_bad_gate_settings_are_refused(gate: dict, match: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidParameterValue, match=match):
        _policy(**gate)


def test_whole_number_floats_are_cast_to_an_integer_signature() -> None:
    from loopml.models.signature import infer_signature

    train = pd.DataFrame({"f1": np.array([1, 2, 3], "int64"), "f2": [0.5, 1.5, 2.5]})
    sig = infer_signature(train)
    logged = pd.DataFrame({"f1": [4.0, 5.0], "f2": [1.0, 2.0]})  # a JSON round trip
    out = ev.conform(logged, sig)
    assert out.f1.dtype == np.int64 and out.f2.dtype == np.float64
    fractional = pd.DataFrame({"f1": [4.5, 5.0], "f2": [1.0, 2.0]})
    assert ev.conform(fractional, sig).f1.dtype == np.float64  # lossy: left to the model check


def test_the_bootstrap_f1_is_sklearns() -> None:
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(1)
    for k in (2, 3):
        y, p = rng.integers(0, k, 300).astype(str), rng.integers(0, k, 300).astype(str)
        assert ev._macro_f1(y, p) == pytest.approx(f1_score(y, p, average="macro"))
    y = np.array(["0", "0", "1"])
    assert ev._macro_f1(y, np.array(["0", "0", "0"])) == pytest.approx(
        f1_score(y, np.array(["0", "0", "0"]), average="macro", zero_division=0))


def test_labelled_traffic_keeps_integers_and_includes_batched_requests(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from loopml.automation import labelled_traffic
    from loopml.inference_log import InferenceLogWriter
    from loopml.store import get_monitoring_store
    from loopml.store.sql import SqlStore

    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = SqlStore(db, str(tmp_path / "artifacts"))
    log = InferenceLogWriter(tmp_path / "log", flush_ms=50)

    def frame(*rows: list[int]) -> pd.DataFrame:
        return pd.DataFrame(list(rows), columns=["f1", "f2"]).astype("int64")

    log.record("d", "one", "m", "1", frame([50, 21]), [1], 1.0, 200)
    log.record("d", "two", "m", "1", frame([53, 0], [37, -5]), [0, 0], 1.0, 200)
    log.record("d", "unmatched", "m", "1", frame([1, 2], [3, 4]), [0, 0], 1.0, 200)
    log.close()
    get_monitoring_store(store).log_feedback([("one", 1), ("two", [0, 1]), ("unmatched", 1)])
    X, y = labelled_traffic(str(tmp_path / "log"), "d", 0, tracking_uri=db)
    assert X.to_dict("list") == {"f1": [50, 53, 37], "f2": [21, 0, -5]} and y == [1, 0, 1]
    assert list(X.dtypes) == [np.dtype("int64")] * 2


def test_an_evaluation_error_names_the_model_the_split_and_the_column(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    from loopml import models
    from loopml.store.sql import SqlStore
    from loopml.tracking._client import TrackingClient
    from loopml.tracking._fluent import using_client

    client = TrackingClient(store=SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}",
                                           str(tmp_path / "artifacts")))
    X = pd.DataFrame({"f1": [1, 2, 3, 4], "f2": [0, 1, 0, 1]}).astype("int64")
    run = client.create_run("0", "r")
    with using_client(client):
        models.log_model(LogisticRegression().fit(X, [0, 0, 1, 1]), "model",
                         run_id=run.info.run_id, input_example=X.head(2))
        models.register_model(f"runs:/{run.info.run_id}/model", "ints", client=client)
        logged = X.astype("float64")  # whole numbers as floats: cast back, scored
        assert len(ev.predictions("models:/ints/1", logged, "classification", "recent")) == 4
        bad = logged.assign(f1=[1.5, 2.0, 3.0, 4.0])
        with pytest.raises(ev.EvaluationError, match=r"models:/ints/1 on the recent split "
                                                     r"\(4 rows\).*'f1'"):
            ev.predictions("models:/ints/1", bad, "classification", "recent")
