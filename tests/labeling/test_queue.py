"""The labeling queue: uncertainty from logged probabilities or a re-scoring model,
champion-challenger disagreement, drifted regions; de-duplicated, without labelled or
skipped requests, batched or refused ones; the scores' formulas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from loopml.errors import InvalidParameterValue
from loopml.labeling import _scores, candidates, coerce_label, rank, split_output
from tests.labeling.conftest import Logged, write_log


def test_scores_follow_their_formulas() -> None:
    p = np.array([[0.5, 0.5], [1.0, 0.0], [0.7, 0.3]])
    assert _scores.least_confidence(p).tolist() == pytest.approx([0.5, 0.0, 0.3])
    assert _scores.margin(p).tolist() == pytest.approx([1.0, 0.0, 0.6])
    assert _scores.entropy(p).tolist() == pytest.approx(
        [math.log(2), 0.0, -(0.7 * math.log(0.7) + 0.3 * math.log(0.3))])
    assert _scores.entropy([0.5]).tolist() == pytest.approx([math.log(2)])  # binary P(1)
    assert _scores.disagreement([1, 2], [1, 3]).tolist() == [0.0, 1.0]
    assert _scores.disagreement([0], [0], [[0.9, 0.1]], [[0.6, 0.4]]).tolist() == \
        pytest.approx([0.3])
    with pytest.raises(InvalidParameterValue, match="n x k"):
        _scores.margin(np.zeros((2, 1)))


def test_split_output_reads_the_shapes_models_log() -> None:
    assert split_output([[0.2, 0.8]]) == (1, [0.2, 0.8])
    assert split_output(["cat"]) == ("cat", None)
    assert split_output(3) == (3, None)
    assert split_output({"predictions": ["b"], "probabilities": [[0.1, 0.9]]}) == ("b", [0.1, 0.9])
    assert split_output([[2.0, 3.0]]) == ([2.0, 3.0], None)  # not a probability row


def test_uncertainty_ranks_logged_probabilities(logged: Logged) -> None:
    items = logged.svc.queue("dep", "entropy", limit=100)
    ids = [i.request_id for i in items]
    assert "dep-batch" not in ids and "dep-bad" not in ids and len(ids) == 30
    want = sorted(logged.probs, key=lambda r: -_scores.entropy([logged.probs[r]])[0])
    assert ids[:5] == want[:5]
    assert [i.score for i in items] == sorted((i.score for i in items), reverse=True)
    top = items[0]
    assert top.prelabel == int(np.argmax(logged.probs[top.request_id]))
    assert top.row.keys() == {"x0", "x1", "x2"} and isinstance(top.row["x2"], int)
    for s in ("margin", "least_confidence"):
        got = [i.request_id for i in logged.svc.queue("dep", s, limit=3)]
        fn = getattr(_scores, s)
        assert got == sorted(logged.probs, key=lambda r: -fn([logged.probs[r]])[0])[:3]


def test_labelled_and_skipped_rows_leave_the_queue(logged: Logged) -> None:
    first = logged.svc.queue("dep", limit=3)
    logged.monitoring.log_feedback([(first[0].request_id, 1)])  # labelled elsewhere
    logged.svc.label("dep", first[1].request_id, 2, prelabel=first[1].prelabel)
    logged.svc.skip("dep", first[2].request_id)
    again = [i.request_id for i in logged.svc.queue("dep", limit=100)]
    assert not {i.request_id for i in first} & set(again) and len(again) == 27
    assert logged.monitoring.get_feedback([first[1].request_id]) == {first[1].request_id: 2}


def test_duplicate_rows_are_one_item(tmp_path, logged: Logged) -> None:  # type: ignore[no-untyped-def]
    from loopml.inference_log import InferenceLogWriter

    w = InferenceLogWriter(logged.log_dir, flush_ms=60_000)
    for k in range(3):  # the same row three times, the most uncertain of all
        w.record("dep", f"dup-{k}", "m", "1", {"x0": [9.0], "x1": [0.0], "x2": [999]},
                 [[0.34, 0.33, 0.33]], 1.0)
    w.close()
    ids = [i.request_id for i in logged.svc.queue("dep", limit=100)]
    assert sum(i.startswith("dup-") for i in ids) == 1 and ids[0].startswith("dup-")
    logged.svc.label("dep", ids[0], 0)
    ids = [i.request_id for i in logged.svc.queue("dep", limit=100)]
    assert not any(i.startswith("dup-") for i in ids)  # equal to a labelled row: not again


class _Model:
    """A model that was not logged with probabilities: re-scoring asks it."""

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (X.x2.to_numpy() % 2).astype(int)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = np.clip(X.x2.to_numpy(float) / 30.0, 0, 1)  # x2 = 15 is the most uncertain
        return np.stack([1 - p, p], axis=1)


def test_rescoring_with_the_model_when_no_probabilities_were_logged(tmp_path) -> None:  # type: ignore[no-untyped-def]
    write_log(tmp_path, "plain", with_probs=False)
    c = candidates(str(tmp_path), "plain")
    with pytest.raises(InvalidParameterValue, match="--model"):
        rank(c, "margin")
    items = rank(c, "margin", limit=2, model=_Model())
    assert [i.row["x2"] for i in items] == [15, 14] or [i.row["x2"] for i in items] == [15, 16]
    assert items[0].prelabel == 1 and items[0].probabilities == pytest.approx([0.5, 0.5])


def test_disagreement_from_shadow_answers_or_a_challenger(logged: Logged) -> None:
    items = logged.svc.queue("dep", "disagreement", limit=100)
    flagged = {i.request_id for i in items if i.score == 1.0}
    # The challenger answered 9 for even i divisible by 3: i = 0, 6, 12, 18, 24.
    assert flagged == {f"dep-r{i:03d}" for i in (0, 6, 12, 18, 24)}
    assert all(i.score == 1.0 for i in items[:5])
    ch = rank(logged.svc.candidates("dep"), "disagreement", limit=30, model=_Model(),
              challenger=_Model())
    assert all(i.score == 0.0 for i in ch)  # the same model never disagrees


def test_drift_ranks_rows_in_the_moved_bins(logged: Logged) -> None:
    ref = pd.DataFrame({"x0": np.linspace(0, 6, 500),
                        "x1": np.random.default_rng(0).normal(size=500),
                        "x2": np.linspace(0, 29, 500)})
    from loopml.inference_log import InferenceLogWriter

    w = InferenceLogWriter(logged.log_dir, flush_ms=60_000)
    for k in range(10):  # a burst far outside the reference's range of x0
        w.record("dep", f"far-{k}", "m", "1", {"x0": [50.0 + k], "x1": [0.0], "x2": [k]},
                 [[0.9, 0.05, 0.05]], 1.0)
    w.close()
    items = logged.svc.queue("dep", "drift", limit=10, reference=ref)
    assert all(i.request_id.startswith("far-") for i in items)
    with pytest.raises(InvalidParameterValue, match="--reference"):
        logged.svc.queue("dep", "drift")


def test_bad_strategy_and_limits(logged: Logged) -> None:
    with pytest.raises(InvalidParameterValue, match="strategy"):
        logged.svc.queue("dep", "loudest")
    with pytest.raises(InvalidParameterValue, match="limit"):
        logged.svc.queue("dep", limit=0)
    assert logged.svc.queue("nothing-logged") == []
    a = [i.request_id for i in logged.svc.queue("dep", "random", 5, seed=1)]
    assert a == [i.request_id for i in logged.svc.queue("dep", "random", 5, seed=1)]


def test_image_rows_name_their_image(tmp_path) -> None:  # type: ignore[no-untyped-def]
    write_log(tmp_path / "log", "img", n=4, image_dir=tmp_path / "imgs")
    items = rank(candidates(str(tmp_path / "log"), "img"), limit=4)
    assert all(i.image and i.image.endswith(".png") for i in items)


def test_coerce_label() -> None:
    assert coerce_label("1", [0, 1]) == 1 and coerce_label("cat", ["cat"]) == "cat"
    assert coerce_label("2.5") == 2.5 and coerce_label("007", ["007"]) == "007"
    assert coerce_label("true") == "true" and coerce_label(3) == 3
