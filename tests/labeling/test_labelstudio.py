"""Label Studio JSON: export -> import round trip (labels, pre-labels, corrected), and an
import of a file shaped as Label Studio's documented export (labelstud.io/guide/task_format:
``id``, ``data``, ``annotations[].result[]`` with ``from_name``/``to_name``/``type``/
``value.choices``, ``was_cancelled``, ``completed_by``; ``predictions[]`` with
``model_version``, ``score`` and ``result``)."""

from __future__ import annotations

import orjson
import pytest

from loopml.errors import InvalidParameterValue
from loopml.labeling import export_tasks, import_tasks, label_config
from tests.labeling.conftest import Logged


def test_round_trip(logged: Logged, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tasks = logged.svc.export("dep", "queue", limit=4)
    assert [t["id"] for t in tasks] == [1, 2, 3, 4]
    t0 = tasks[0]
    assert t0["data"]["deployment"] == "dep" and "x0" in t0["data"]
    res = t0["predictions"][0]["result"][0]
    assert res["type"] == "choices" and res["from_name"] == "label" and res["to_name"] == "item"
    assert 0 < t0["predictions"][0]["score"] <= 1
    # A person annotates in Label Studio: confirms two, corrects two.
    for i, t in enumerate(tasks):
        pre = t["predictions"][0]["result"][0]["value"]["choices"][0]
        choice = pre if i < 2 else str((int(pre) + 1) % 3)
        t["annotations"] = [{"id": 10 + i, "was_cancelled": False, "completed_by": 7,
                             "result": [{"from_name": "label", "to_name": "item",
                                         "type": "choices", "value": {"choices": [choice]}}]}]
    path = tmp_path / "export.json"
    path.write_bytes(orjson.dumps(tasks))
    got = logged.svc.import_tasks(orjson.loads(path.read_bytes()), classes=[0, 1, 2])
    assert len(got.labels) == 4 and got.left_out == []
    st = logged.svc.stats("dep")
    assert (st.labeled, st.confirmed, st.corrected) == (4, 2, 2)
    fb = logged.monitoring.get_feedback([t["data"]["request_id"] for t in tasks])
    assert all(isinstance(v, int) for v in fb.values()) and len(fb) == 4
    # Exported again as labelled tasks, the annotations come back as they were stored.
    again = logged.svc.export("dep", "labeled")
    assert {t["data"]["request_id"] for t in again} == set(fb)
    back = import_tasks(again)
    assert {x.request_id: x.label for x in back.labels} == fb


# Shaped as the documented export, with a choices control (text classification).
DOCUMENTED = """[
 {"id": 1, "created_at": "2021-03-09T21:52:49.513742Z", "updated_at": "2021-03-09T22:16:08.746926Z",
  "project": 83,
  "data": {"request_id": "dep-r010", "deployment": "dep", "text": "row 10"},
  "annotations": [
    {"id": "1001",
     "result": [{"from_name": "sentiment", "id": "Dx_aB91ISN", "to_name": "text",
                 "type": "choices", "value": {"choices": ["2"]}}],
     "was_cancelled": false, "ground_truth": false,
     "created_at": "2021-03-09T22:16:08.728353Z", "updated_at": "2021-03-09T22:16:08.728378Z",
     "lead_time": 4.288, "result_count": 0, "task": 1, "completed_by": 10}],
  "predictions": [
    {"created_ago": "3 hours", "model_version": "model 1", "score": 0.5,
     "result": [{"from_name": "sentiment", "id": "t5sp3TyXPo", "to_name": "text",
                 "type": "choices", "value": {"choices": ["2"]}}]}]},
 {"id": 2, "data": {"request_id": "dep-r011", "deployment": "dep", "text": "row 11"},
  "annotations": [
    {"id": "1002", "result": [{"from_name": "sentiment", "to_name": "text", "type": "choices",
                               "value": {"choices": ["0"]}}], "was_cancelled": true}],
  "predictions": []},
 {"id": 3, "data": {"request_id": "dep-r012", "deployment": "dep", "text": "row 12"}}
]"""


def test_import_of_the_documented_shape(logged: Logged) -> None:
    got = logged.svc.import_tasks(orjson.loads(DOCUMENTED), classes=[0, 1, 2])
    assert [(x.request_id, x.label, x.prelabel, x.labeler) for x in got.labels] == \
        [("dep-r010", 2, 2, "10")]
    assert len(got.left_out) == 2  # a cancelled annotation and an unlabelled task
    assert logged.monitoring.get_feedback(["dep-r010"]) == {"dep-r010": 2}
    assert logged.svc.stats("dep").confirmed == 1


@pytest.mark.parametrize("bad,match", [
    ("{}", "data"), ('"x"', "list"), ('[{"data": {}}]', "request_id"),
    ('[{"data": {"request_id": "r"}}]', "deployment"),
    ('[{"data": {"request_id": "r", "deployment": "d"}, "annotations": {}}]', "annotations"),
    ('[{"data": {"request_id": "r", "deployment": "d"}, "annotations": [{"result": '
     '[{"type": "choices", "value": {"choices": []}}]}]}]', "choices"),
])
def test_bad_files_name_the_problem(bad: str, match: str) -> None:
    with pytest.raises(InvalidParameterValue, match=match):
        import_tasks(orjson.loads(bad))


def test_image_tasks_and_config(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from loopml.labeling.queue import QueueItem

    it = QueueItem("r", "d", "1", 0, {"img": "/x/a.png"}, 1, 1, None, 0.0, "random", "/x/a.png")
    t = export_tasks([it])[0]
    assert t["data"]["image"] == "/x/a.png" and \
        t["predictions"][0]["result"][0]["to_name"] == "image"
    xml = label_config(["a", 'b"<'], image=True)
    assert '<Image name="image" value="$image"/>' in xml and "&lt;" in xml
