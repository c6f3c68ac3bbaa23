"""Labels go to the feedback store with the pre-label and whether it was corrected; undo
takes back the labeler's newest decision (and its feedback); the correction rate."""

from __future__ import annotations

import pytest

from loopml.errors import InvalidParameterValue
from loopml.store.labeling_base import LabelInput, same_label
from tests.labeling.conftest import Logged


def test_labels_reach_feedback_and_record_corrections(logged: Logged) -> None:
    svc = logged.svc
    svc.label("dep", "dep-r000", "1", prelabel=1, labeler="ana", source="dashboard",
              classes=[0, 1, 2])
    svc.label("dep", "dep-r001", 2, prelabel=0, labeler="ana")
    svc.label("dep", "dep-r002", 0, labeler="bo")  # no pre-label shown
    svc.skip("dep", "dep-r003", labeler="ana")
    fb = logged.monitoring.get_feedback(["dep-r000", "dep-r001", "dep-r002", "dep-r003"])
    assert fb == {"dep-r000": 1, "dep-r001": 2, "dep-r002": 0}
    recs = {r.request_id: r for r in logged.labeling.records("dep")}
    assert recs["dep-r000"].corrected is False and recs["dep-r001"].corrected is True
    assert recs["dep-r002"].corrected is None and recs["dep-r003"].action == "skip"
    st = svc.stats("dep")
    assert (st.labeled, st.skipped, st.confirmed, st.corrected) == (3, 1, 1, 1)
    assert st.correction_rate == 0.5 and st.by_labeler == {"ana": 2, "bo": 1}
    # Undo: ana's newest (the skip), then her label of r001, whose feedback goes too.
    assert svc.undo("dep", "ana").request_id == "dep-r003"  # type: ignore[union-attr]
    assert svc.undo("dep", "ana").request_id == "dep-r001"  # type: ignore[union-attr]
    assert logged.monitoring.get_feedback(["dep-r001"]) == {}
    assert svc.stats("dep").correction_rate == 0.0
    assert svc.undo("dep", "nobody") is None


def test_undo_keeps_a_label_that_replaced_ours(logged: Logged) -> None:
    logged.svc.label("dep", "dep-r005", 1, labeler="ana")
    logged.monitoring.log_feedback([("dep-r005", 2)])  # a later label through POST /feedback
    logged.svc.undo("dep", "ana")
    assert logged.monitoring.get_feedback(["dep-r005"]) == {"dep-r005": 2}


def test_the_events_retraining_triggers_watch(logged: Logged) -> None:
    import sqlalchemy as sa

    logged.svc.label("dep", "dep-r007", 1)
    with logged.labeling.engine.connect() as conn:
        types = [r[0] for r in conn.execute(sa.text("SELECT type FROM events"))]
    assert "feedback.logged" in types


def test_retraining_sees_the_labels(logged: Logged) -> None:
    from loopml.automation._evaluate import recent_labelled

    for it in logged.svc.queue("dep", limit=5):
        logged.svc.label("dep", it.request_id, it.prelabel)
    X, y = recent_labelled(logged.log_dir, "dep", logged.monitoring, 0)
    assert len(X) == 5 and len(y) == 5


@pytest.mark.parametrize("kw,match", [
    ({"action": "erase"}, "action"), ({"source": "mail"}, "source"),
    ({"deployment": ""}, "deployment"), ({"labeler": ""}, "labeler"),
    ({"label": None}, "label"), ({"label": {"a": 1}}, "label"),
    ({"request_id": "x" * 129}, "request_id"), ({"strategy": "s" * 40}, "strategy"),
])
def test_bad_label_inputs(kw: dict, match: str) -> None:  # type: ignore[type-arg]
    base = {"request_id": "r", "deployment": "d", "label": 1}
    with pytest.raises(InvalidParameterValue, match=match):
        LabelInput(**{**base, **kw})


def test_same_label() -> None:
    assert same_label("1", 1) and same_label(1.0, 1) and same_label(["a", 1], ["a", "1"])
    assert not same_label("cat", "dog") and not same_label([1], 1)
    assert same_label(True, "true")
