"""``LabelingService``: the labeling loop over one metadata store and the inference log —
queue, label, skip, undo, statistics, and Label Studio import/export. The routes, the
dashboard page and the CLI all call it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from loopml.errors import InvalidParameterValue
from loopml.labeling.labelstudio import Imported, export_tasks, import_tasks
from loopml.labeling.queue import Candidates, QueueItem, candidates, coerce_label, rank
from loopml.store.labeling_base import LabelingStore, LabelInput, LabelRecord, LabelStats
from loopml.store.monitoring_base import MonitoringStore

MAX_CLASSES = 36  # buttons on the page: 1-9, then a-z as access keys


class LabelingService:
    """``log_dir_for(deployment)`` gives the folder or URI the deployment's inference log
    is under; it raises ``ResourceDoesNotExist`` for a deployment with no known log."""

    def __init__(self, monitoring: MonitoringStore, labeling: LabelingStore,
                 log_dir_for: Callable[[str], str]) -> None:
        self.monitoring = monitoring
        self.labeling = labeling
        self.log_dir_for = log_dir_for

    def candidates(self, deployment: str, since_ms: int = 0) -> Candidates:
        return candidates(self.log_dir_for(deployment), deployment, since_ms)

    def decided(self, request_ids: Sequence[str]) -> set[str]:
        """Request ids with a label in the feedback store or a labeling decision."""
        ids = list(request_ids)
        if not ids:
            return set()
        return set(self.monitoring.get_feedback(ids)) | self.labeling.decided(ids)

    def queue(self, deployment: str, strategy: str = "entropy", limit: int = 20,
              since_ms: int = 0, model: Any = None, challenger: Any = None,
              reference: Any = None, seed: int = 0,
              cands: Candidates | None = None) -> list[QueueItem]:
        """The next ``limit`` items to label (``queue.rank``), none already decided."""
        c = cands if cands is not None else self.candidates(deployment, since_ms)
        done = self.decided(c.frame.request_id.astype(str).tolist()) if len(c.frame) else set()
        return rank(c, strategy, limit, done, model, challenger, reference, seed)

    def classes(self, deployment: str, cands: Candidates | None = None,
                given: Sequence[Any] = ()) -> list[Any]:
        """The classes to offer: ``given`` if any, else the distinct predictions logged and
        labels stored for the deployment (at most ``MAX_CLASSES``), sorted by their text."""
        if given:
            return list(given)[:MAX_CLASSES]
        c = cands if cands is not None else self.candidates(deployment)
        seen: dict[str, Any] = {}
        for v in list(c.preds) + [r.label for r in self.labeling.records(deployment, 500)
                                  if r.action == "label"]:
            if isinstance(v, str | int | float) and not isinstance(v, bool):
                seen.setdefault(str(v), v)
        return [seen[k] for k in sorted(seen, key=lambda k: (len(k), k))][:MAX_CLASSES]

    def label(self, deployment: str, request_id: str, label: Any, prelabel: Any = None,
              labeler: str = "anonymous", source: str = "api", strategy: str = "",
              classes: Sequence[Any] = ()) -> LabelInput:
        """Store one label (and its feedback); returns what was stored."""
        item = LabelInput(request_id, deployment, "label", coerce_label(label, classes),
                          prelabel, labeler, source, strategy)
        self.labeling.record([item])
        return item

    def skip(self, deployment: str, request_id: str, labeler: str = "anonymous",
             source: str = "api") -> None:
        self.labeling.record([LabelInput(request_id, deployment, "skip", labeler=labeler,
                                         source=source)])

    def undo(self, deployment: str, labeler: str) -> LabelRecord | None:
        return self.labeling.undo(deployment, labeler)

    def stats(self, deployment: str) -> LabelStats:
        return self.labeling.stats(deployment)

    def export(self, deployment: str, which: str = "queue", limit: int = 100,
               strategy: str = "entropy", **queue_kw: Any) -> list[dict[str, Any]]:
        """Label Studio tasks: ``which`` "queue" (the next ``limit`` items to label, with
        their pre-labels) or "labeled" (the labelled requests, with their annotations)."""
        if which == "queue":
            return export_tasks(self.queue(deployment, strategy, limit, **queue_kw))
        if which != "labeled":
            raise InvalidParameterValue(
                f"Export 'which' must be 'queue' or 'labeled', not {which!r}.")
        recs = {r.request_id: r for r in self.labeling.records(deployment, limit)
                if r.action == "label"}
        c = self.candidates(deployment)
        keep = c.frame.request_id.astype(str).isin(list(recs)).to_numpy()
        sub = Candidates(deployment, c.frame[keep].reset_index(drop=True),
                         c.feats[keep].reset_index(drop=True),
                         [p for p, k in zip(c.preds, keep, strict=True) if k],
                         [p for p, k in zip(c.probs, keep, strict=True) if k], c.shadow)
        items = rank(sub, "random", max(1, min(len(recs), 10_000))) if len(sub.frame) else []
        items.sort(key=lambda it: -recs[it.request_id].seq)
        return export_tasks(items, recs)

    def import_tasks(self, tasks: Any, deployment: str | None = None,
                     classes: Sequence[Any] = (), labeler: str = "label-studio") -> Imported:
        """Store the labels of Label Studio ``tasks``; returns what was stored and left
        out."""
        got = import_tasks(tasks, deployment, classes, labeler)
        for i in range(0, len(got.labels), 5000):
            self.labeling.record(got.labels[i:i + 5000])
        return got


def get_labeling_store(tracking: Any) -> LabelingStore:
    """The labeling store beside ``tracking`` (a SQL tracking store: same database)."""
    from loopml.store.labeling_sql import SqlLabelingStore
    from loopml.store.sql import SqlStore

    if isinstance(tracking, SqlStore):
        return SqlLabelingStore(tracking.engine)
    raise InvalidParameterValue(
        "Labeling needs the metadata database itself (sqlite:// or postgresql://); against a "
        "loopml server, use its /api/loopml/v1/labeling routes.")


__all__ = ["MAX_CLASSES", "LabelingService", "get_labeling_store"]
