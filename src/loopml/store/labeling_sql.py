"""Labeling records (migration 0015) in the tracking database, written with their feedback
labels in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from loopml.security.workspaces import creating_workspace
from loopml.store import _schema as t
from loopml.store._sql_base import SqlBase
from loopml.store._sql_util import now_ms
from loopml.store.labeling_base import (
    LabelingStore,
    LabelInput,
    LabelRecord,
    LabelStats,
    validate_batch,
)

_L, _F = t.labeling_records.c, t.feedback.c
_CHUNK = 900  # stay under SQLite's bound-parameter limit


def _json(v: Any) -> str | None:
    return None if v is None else orjson.dumps(v).decode()


def _record(r: Any) -> LabelRecord:
    return LabelRecord(int(r.seq), r.request_id, r.deployment, r.action,
                       None if r.label is None else orjson.loads(r.label),
                       None if r.prelabel is None else orjson.loads(r.prelabel),
                       None if r.corrected is None else bool(r.corrected), r.labeler, r.source,
                       r.strategy, int(r.time))


class SqlLabelingStore(SqlBase, LabelingStore):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, items: Sequence[LabelInput]) -> int:
        validate_batch(items)
        latest = {i.request_id: i for i in items}  # the last decision in one batch wins
        ids, now, ws = list(latest), now_ms(), creating_workspace()
        labels = {k: v for k, v in latest.items() if v.action == "label"}
        with self._tx() as conn:
            for i in range(0, len(ids), _CHUNK):
                conn.execute(sa.delete(t.labeling_records).where(
                    _L.request_id.in_(ids[i:i + _CHUNK])))
            conn.execute(sa.insert(t.labeling_records), [
                {"request_id": k, "deployment": v.deployment, "action": v.action,
                 "label": _json(v.label), "prelabel": _json(v.prelabel),
                 "corrected": v.corrected, "labeler": v.labeler, "source": v.source,
                 "strategy": v.strategy, "time": now, "workspace": ws}
                for k, v in latest.items()])
            if labels:
                keys = list(labels)
                for i in range(0, len(keys), _CHUNK):
                    conn.execute(sa.delete(t.feedback).where(
                        _F.request_id.in_(keys[i:i + _CHUNK])))
                conn.execute(sa.insert(t.feedback), [
                    {"request_id": k, "label": _json(v.label), "time": now, "workspace": ws}
                    for k, v in labels.items()])
                # The same event POST /feedback publishes: triggers and staleness see it.
                self._event(conn, "feedback.logged", "feedback", {"count": len(labels)})
        return len(latest)

    def undo(self, deployment: str, labeler: str) -> LabelRecord | None:
        with self._tx() as conn:
            row = conn.execute(sa.select(t.labeling_records).where(
                _L.deployment == deployment, _L.labeler == labeler)
                .order_by(_L.seq.desc()).limit(1)).first()
            if row is None:
                return None
            rec = _record(row)
            conn.execute(sa.delete(t.labeling_records).where(_L.seq == rec.seq))
            if rec.action == "label":
                conn.execute(sa.delete(t.feedback).where(
                    _F.request_id == rec.request_id, _F.label == row.label))
        return rec

    def records(self, deployment: str, limit: int = 1000,
                request_ids: Sequence[str] | None = None) -> list[LabelRecord]:
        q = sa.select(t.labeling_records).where(_L.deployment == deployment)
        with self._read() as conn:
            if request_ids is None:
                rows = conn.execute(q.order_by(_L.seq.desc()).limit(max(0, limit))).all()
            else:
                ids, rows = list(request_ids), []
                for i in range(0, len(ids), _CHUNK):
                    rows += conn.execute(q.where(_L.request_id.in_(ids[i:i + _CHUNK]))).all()
                rows.sort(key=lambda r: -int(r.seq))
        return [_record(r) for r in rows]

    def decided(self, request_ids: Sequence[str]) -> set[str]:
        ids, out = list(request_ids), set()
        with self._read() as conn:
            for i in range(0, len(ids), _CHUNK):
                out |= {r[0] for r in conn.execute(sa.select(_L.request_id).where(
                    _L.request_id.in_(ids[i:i + _CHUNK])))}
        return out

    def stats(self, deployment: str) -> LabelStats:
        q = (sa.select(_L.action, _L.corrected, _L.labeler, sa.func.count())
             .where(_L.deployment == deployment)
             .group_by(_L.action, _L.corrected, _L.labeler))
        labeled = skipped = confirmed = corrected = 0
        by: dict[str, int] = {}
        with self._read() as conn:
            for action, corr, who, n in conn.execute(q):
                if action == "skip":
                    skipped += n
                    continue
                labeled += n
                by[who] = by.get(who, 0) + n
                if corr is not None:
                    corrected += n if corr else 0
                    confirmed += 0 if corr else n
        return LabelStats(labeled, skipped, confirmed, corrected, by)


__all__ = ["SqlLabelingStore"]
