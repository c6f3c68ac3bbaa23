"""Import and export in Label Studio's JSON task format (labelstud.io/guide/task_format,
/guide/predictions), for classification with a ``Choices`` control::

    {"id": 1,
     "data": {"request_id": "...", "deployment": "...", "<column>": value, ...},
     "predictions": [{"model_version": "3", "score": 0.91,
                      "result": [{"from_name": "label", "to_name": "item", "type": "choices",
                                  "value": {"choices": ["cat"]}}]}],
     "annotations": [{"result": [...same shape...], "was_cancelled": false,
                      "completed_by": "ann", "ground_truth": false}]}

``data`` carries the request id (what the label is stored under), the deployment and the
row's columns; an image row also has ``data.image`` (the image reference), which is what a
Label Studio ``<Image value="$image"/>`` shows. ``predictions`` is the pre-label, scored
with the model's confidence (its largest class probability) when known. On import the
newest annotation that is not cancelled wins; its first ``choices`` result is the label
(a list when several choices were ticked); the first prediction's choice is the pre-label,
so confirmed/corrected is recorded as for a label given in loopml.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import quoteattr

from loopml.errors import InvalidParameterValue
from loopml.labeling.queue import QueueItem, coerce_label
from loopml.store.labeling_base import LabelInput, LabelRecord

FROM_NAME = "label"


def _result(label: Any, to_name: str, from_name: str = FROM_NAME) -> list[dict[str, Any]]:
    choices = [str(x) for x in label] if isinstance(label, list) else [str(label)]
    return [{"from_name": from_name, "to_name": to_name, "type": "choices",
             "value": {"choices": choices}}]


def to_task(item: QueueItem, record: LabelRecord | None = None, task_id: int = 1,
            from_name: str = FROM_NAME) -> dict[str, Any]:
    """One queue item (and its stored label, if any) as a Label Studio task."""
    to_name = "image" if item.image else "item"
    data: dict[str, Any] = {**item.row, "request_id": item.request_id,
                            "deployment": item.deployment}
    if item.image:
        data["image"] = item.image
    task: dict[str, Any] = {"id": task_id, "data": data, "annotations": [], "predictions": []}
    if item.prelabel is not None:
        pred: dict[str, Any] = {"model_version": item.version,
                                "result": _result(item.prelabel, to_name, from_name)}
        if item.probabilities:
            pred["score"] = float(max(item.probabilities))
        task["predictions"].append(pred)
    if record is not None and record.action == "label":
        task["annotations"].append({
            "result": _result(record.label, to_name, from_name), "was_cancelled": False,
            "ground_truth": False, "completed_by": record.labeler})
    return task


def export_tasks(items: Sequence[QueueItem], records: dict[str, LabelRecord] | None = None,
                 from_name: str = FROM_NAME) -> list[dict[str, Any]]:
    """Tasks for ``items`` (ids 1..n), with the annotations in ``records`` (by request id)."""
    records = records or {}
    return [to_task(it, records.get(it.request_id), i + 1, from_name)
            for i, it in enumerate(items)]


def label_config(classes: Sequence[Any], image: bool = False) -> str:
    """A Label Studio labeling config (XML) matching the exported tasks."""
    obj = '<Image name="image" value="$image"/>' if image else \
        '<Text name="item" value="$request_id"/>'
    to = "image" if image else "item"
    opts = "".join(f"<Choice value={quoteattr(str(c))}/>" for c in classes)
    return (f'<View>{obj}<Choices name="{FROM_NAME}" toName="{to}" choice="single">'
            f"{opts}</Choices></View>")


@dataclass
class Imported:
    """What an import found: the labels to store, and the tasks left out with the reason."""

    labels: list[LabelInput] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


def _choices(results: Any, where: str) -> Any:
    if not isinstance(results, list):
        raise InvalidParameterValue(f"{where}.result must be a list of results.")
    for r in results:
        if isinstance(r, dict) and r.get("type") == "choices":
            value = r.get("value")
            ch = value.get("choices") if isinstance(value, dict) else None
            if not isinstance(ch, list) or not ch or \
                    not all(isinstance(x, str | int | float) for x in ch):
                raise InvalidParameterValue(
                    f"{where}: a 'choices' result needs value.choices, a non-empty list of "
                    "class names.")
            return ch[0] if len(ch) == 1 else list(ch)
    return None


def import_tasks(tasks: Any, deployment: str | None = None, classes: Collection[Any] = (),
                 labeler: str = "label-studio", id_field: str = "request_id") -> Imported:
    """Labels from Label Studio tasks (a list, or one task object). ``deployment``: used
    when a task's data has none. ``classes``: the model's classes, so that a choice text
    becomes the class value (``coerce_label``). Raises ``InvalidParameterValue`` naming the
    task for a malformed task or one without ``data.<id_field>``."""
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise InvalidParameterValue(
            "A Label Studio export must be a JSON list of tasks (or one task object).")
    out = Imported()
    for n, task in enumerate(tasks):
        where = f"task[{n}]"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise InvalidParameterValue(f"{where} must be an object with a 'data' object.")
        where = f"task[{n}] (id {task.get('id')})" if "id" in task else where
        rid, dep = task["data"].get(id_field), task["data"].get("deployment") or deployment
        if not isinstance(rid, str) or not rid:
            raise InvalidParameterValue(
                f"{where} has no data.{id_field}: only tasks exported by loopml (or carrying "
                "the request id of a logged request) can be imported.")
        if not isinstance(dep, str) or not dep:
            raise InvalidParameterValue(
                f"{where} names no deployment (data.deployment): pass --deployment.")
        anns = task.get("annotations", task.get("completions"))  # completions: LS < 1.0
        anns = [] if anns is None else anns
        if not isinstance(anns, list):
            raise InvalidParameterValue(f"{where}.annotations must be a list.")
        live = [a for a in anns if isinstance(a, dict) and not a.get("was_cancelled")]
        label = None
        who = labeler
        for a in reversed(live):  # the newest annotation with a choice wins
            label = _choices(a.get("result", []), f"{where}.annotations")
            if label is not None:
                if a.get("completed_by") is not None:
                    who = str(a["completed_by"])[:255] or labeler
                break
        if label is None:
            out.left_out.append(f"{rid}: no annotation with a choice")
            continue
        preds = task.get("predictions") or []
        pre = _choices(preds[0].get("result", []), f"{where}.predictions") \
            if isinstance(preds, list) and preds and isinstance(preds[0], dict) else None
        fix = (lambda v: [coerce_label(x, classes) for x in v] if isinstance(v, list)  # noqa: E731
               else coerce_label(v, classes))
        out.labels.append(LabelInput(rid, dep, "label", fix(label),
                                     None if pre is None else fix(pre), who, "import"))
    return out


__all__ = ["FROM_NAME", "Imported", "export_tasks", "import_tasks", "label_config", "to_task"]
