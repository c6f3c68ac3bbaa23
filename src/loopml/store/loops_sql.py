"""Closed-loop cycles and their audit log in the tracking database (migration 0006)."""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from loopml.errors import InvalidParameterValue, ResourceDoesNotExist
from loopml.security.actor import current_actor
from loopml.security.workspaces import current_workspace, name_workspace, scoped
from loopml.store import _schema as t
from loopml.store._sql_base import SqlBase
from loopml.store._sql_util import now_ms
from loopml.store.loops_base import FINAL, AuditEntry, Loop, LoopStore, StaleLoop

_L, _A, _C = t.loops.c, t.loop_audit.c, t.consumer_cursors.c
_JSON = ("trigger", "evaluation", "gate", "canary")
_FIELDS = frozenset({"state", "champion_version", "challenger_version", "pipeline_run_id",
                     "evaluation", "gate", "canary", "decision", "reason", "approved_by"})


def _dumps(v: Any) -> str:
    return orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
                        default=str).decode()


def _loop(r: Any) -> Loop:
    return Loop(r.loop_id, r.model, r.policy, r.state, orjson.loads(r.trigger),
                r.champion_version, r.challenger_version, r.pipeline_run_id,
                orjson.loads(r.evaluation), orjson.loads(r.gate), orjson.loads(r.canary),
                r.decision, r.reason, bool(r.dry_run), r.approved_by, r.created_time,
                r.updated_time)


class SqlLoopStore(SqlBase, LoopStore):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _audit(self, conn: Connection, model: str, action: str, message: str,
               inputs: dict[str, Any], loop_id: str | None, ws: str | None = None) -> None:
        """``ws``: the loop's workspace (None: the loop's, else the model's)."""
        if ws is None and loop_id:
            ws = conn.execute(sa.select(_L.workspace).where(_L.loop_id == loop_id)).scalar()
        ws = ws or name_workspace(conn, t.registered_models, model)
        actor, kind = current_actor()  # the approver's request, or the controller
        conn.execute(sa.insert(t.loop_audit).values(
            loop_id=loop_id, model=model, action=action, message=message,
            inputs=_dumps(inputs), time=now_ms(), workspace=ws, actor=actor, actor_kind=kind))
        self._event(conn, f"loop.{action}", model,
                    {"loop_id": loop_id, "message": message}, ws)

    def create_loop(self, loop: Loop, audit_message: str, inputs: dict[str, Any]) -> bool:
        row = loop.to_dict()
        for k in _JSON:
            row[k] = _dumps(row[k])
        row["created_time"] = row["updated_time"] = now_ms()
        try:
            with self._tx() as conn:
                # The model's workspace (the bound one; while every workspace is bound, the
                # one holding that model name).
                ws = name_workspace(conn, t.registered_models, loop.model)
                conn.execute(sa.insert(t.loop_active).values(model=loop.model,
                                                             loop_id=loop.loop_id, workspace=ws))
                conn.execute(sa.insert(t.loops).values(**row, workspace=ws))
                self._audit(conn, loop.model, "triggered", audit_message, inputs, loop.loop_id,
                            ws)
        except IntegrityError:
            with self._tx() as conn:
                ws = name_workspace(conn, t.registered_models, loop.model)
                running = conn.execute(sa.select(t.loop_active.c.loop_id).where(
                    t.loop_active.c.workspace == ws, t.loop_active.c.model == loop.model)).scalar()
                self._audit(conn, loop.model, "ignored",
                            f"{audit_message}; not acted on: loop {running} is already "
                            "running for this model", inputs, running, ws)
            return False
        return True

    def get_loop(self, loop_id: str) -> Loop:
        with self._read() as conn:
            r = conn.execute(sa.select(t.loops).where(_L.loop_id == loop_id)).first()
        if r is None:
            raise ResourceDoesNotExist(
                f"Loop {loop_id!r} does not exist; see `loopml loop status`.")
        return _loop(r)

    def list_loops(self, model: str | None = None, active: bool | None = None,
                   limit: int = 100) -> list[Loop]:
        q = scoped(sa.select(t.loops), _L.workspace)
        if model:
            q = q.where(_L.model == model)
        if active is True:
            q = q.where(_L.decision.is_(None))
        elif active is False:
            q = q.where(_L.decision.is_not(None))
        with self._read() as conn:
            rows = conn.execute(q.order_by(_L.created_time.desc(), _L.loop_id)
                                .limit(max(1, min(limit, 10_000)))).all()
        return [_loop(r) for r in rows]

    def advance(self, loop_id: str, expected_state: str, action: str, message: str,
                inputs: dict[str, Any], **fields: Any) -> Loop:
        unknown = set(fields) - _FIELDS
        if unknown:
            raise InvalidParameterValue(f"Cannot set {sorted(unknown)} on a loop.")
        values = {k: _dumps(v) if k in _JSON else v for k, v in fields.items()}
        values["updated_time"] = now_ms()
        with self._tx() as conn:
            n = conn.execute(sa.update(t.loops).where(
                _L.loop_id == loop_id, _L.state == expected_state).values(**values)).rowcount
            if n != 1:
                raise StaleLoop(f"Loop {loop_id} is no longer {expected_state}.")
            model = conn.execute(sa.select(_L.model).where(_L.loop_id == loop_id)).scalar_one()
            if fields.get("state") in FINAL:
                conn.execute(sa.delete(t.loop_active).where(t.loop_active.c.loop_id == loop_id))
            self._audit(conn, model, action, message, inputs, loop_id)
        return self.get_loop(loop_id)

    def audit(self, model: str, action: str, message: str, inputs: dict[str, Any],
              loop_id: str | None = None) -> None:
        with self._tx() as conn:
            self._audit(conn, model, action, message, inputs, loop_id)

    def history(self, model: str | None = None, loop_id: str | None = None,
                after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]:
        q = scoped(sa.select(t.loop_audit).where(_A.seq > after_seq), _A.workspace)
        if model:
            q = q.where(_A.model == model)
        if loop_id:
            q = q.where(_A.loop_id == loop_id)
        with self._read() as conn:
            rows = conn.execute(q.order_by(_A.seq).limit(max(1, min(limit, 100_000)))).all()
        return [AuditEntry(r.seq, r.loop_id, r.model, r.action, r.message,
                           orjson.loads(r.inputs), r.time, r.actor, r.actor_kind)
                for r in rows]

    # Cursors are per workspace bound (``*`` for a consumer serving every workspace, whose
    # cursor is kept under "*"): a controller run for one workspace keeps its own.
    def get_cursor(self, name: str) -> int:
        with self._read() as conn:
            v = conn.execute(sa.select(_C.seq).where(_C.workspace == current_workspace(),
                                                     _C.name == name)).scalar()
        return int(v or 0)

    def move_cursor(self, name: str, expected: int, new: int) -> bool:
        ws = current_workspace()
        key = (_C.workspace == ws, _C.name == name)
        with self._tx() as conn:
            if conn.execute(sa.select(_C.seq).where(*key)).first() is None:
                if expected != 0:
                    return False
                conn.execute(sa.insert(t.consumer_cursors).values(name=name, seq=new,
                                                                  workspace=ws))
                return True
            return bool(conn.execute(sa.update(t.consumer_cursors).where(
                *key, _C.seq == expected).values(seq=new)).rowcount == 1)
