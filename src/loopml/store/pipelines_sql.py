"""Pipeline runs, step runs, the step cache and triggers in the tracking database (0005)."""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.errors import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from loopml.security import quotas
from loopml.security.workspaces import creating_workspace, name_workspace, scoped
from loopml.store import _schema as t
from loopml.store._sql_base import SqlBase
from loopml.store._sql_util import now_ms
from loopml.store.pipelines_base import (
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    PipelineRun,
    PipelineStore,
    StepRun,
    Trigger,
)

_P, _S, _C, _T = t.pipeline_runs.c, t.step_runs.c, t.step_cache.c, t.pipeline_triggers.c
_JSON_RUN = ("params", "trigger")
# Built once: a step is recorded two or three times per attempt, and building statements with
# .values(**row) each time cost more than the SQLite write itself (~1 ms per call).
_STEP_COLS = [c.name for c in t.step_runs.c if c.name not in ("run_id", "step")]
_UPDATE_STEP = sa.update(t.step_runs).where(
    _S.run_id == sa.bindparam("k_run_id"), _S.step == sa.bindparam("k_step")).values(
    {c: sa.bindparam(c) for c in _STEP_COLS})
_INSERT_STEP = sa.insert(t.step_runs)
_DELETE_CACHE = sa.delete(t.step_cache).where(_C.cache_key == sa.bindparam("k"),
                                              _C.workspace == sa.bindparam("ws"))
_INSERT_CACHE = sa.insert(t.step_cache)
_RUN_FIELDS = frozenset({"params", "status", "tracking_run_id", "error", "attempt", "start_time",
                         "end_time"})


def _dumps(v: Any) -> str:
    return orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _run(r: Any) -> PipelineRun:
    return PipelineRun(r.run_id, r.pipeline, r.ref, orjson.loads(r.params), r.status,
                       r.executor, orjson.loads(r.trigger), r.tracking_run_id, r.error,
                       r.attempt, r.creation_time, r.start_time, r.end_time, r.workspace,
                       float(r.cpus), float(r.gpus))


def _step(r: Any) -> StepRun:
    return StepRun(r.run_id, r.step, r.status, r.attempts, r.cache_key, r.cached_from,
                   orjson.loads(r.inputs), orjson.loads(r.outputs), r.tracking_run_id,
                   r.log_uri, r.error, r.start_time, r.end_time)


def _trigger(r: Any) -> Trigger:
    return Trigger(r.name, r.ref, r.kind, orjson.loads(r.spec), orjson.loads(r.params),
                   r.executor, int(r.marker), bool(r.enabled), r.creation_time, r.workspace)


class SqlPipelineStore(SqlBase, PipelineStore):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ---- runs ------------------------------------------------------------------------------
    def _insert_run(self, conn: Connection, run: PipelineRun, workspace: str | None = None) -> None:
        """``workspace``: where the run belongs (default: the current one). A run that
        starts PENDING or RUNNING counts against the concurrent pipeline runs quota."""
        ws = workspace or creating_workspace()
        if run.status in (PENDING, RUNNING):  # before the insert: a refusal writes nothing
            quotas.enforce(conn, ws, "concurrent_pipeline_runs")
            quotas.enforce(conn, ws, "cpus", run.cpus)
            quotas.enforce(conn, ws, "gpus", run.gpus)
        row = run.to_dict()
        row.pop("workspace", None)  # the store decides, not the record
        for k in _JSON_RUN:
            row[k] = _dumps(row[k])
        row["creation_time"] = run.creation_time or now_ms()
        conn.execute(sa.insert(t.pipeline_runs).values(**row, workspace=ws))
        self._event(conn, "pipeline_run.created", run.run_id,
                    {"pipeline": run.pipeline, "trigger": run.trigger}, ws)

    def create_run(self, run: PipelineRun) -> PipelineRun:
        with self._tx() as conn:
            if conn.execute(sa.select(_P.run_id).where(_P.run_id == run.run_id)).first():
                raise ResourceAlreadyExists(f"Pipeline run {run.run_id} already exists.")
            self._insert_run(conn, run)
        return self.get_run(run.run_id)

    def update_run(self, run_id: str, **fields: Any) -> PipelineRun:
        unknown = set(fields) - _RUN_FIELDS
        if unknown:
            raise InvalidParameterValue(
                f"Cannot update {sorted(unknown)} of a pipeline run; allowed: {sorted(_RUN_FIELDS)}.")
        values = {k: _dumps(v) if k == "params" else v for k, v in fields.items()}
        with self._tx() as conn:
            n = conn.execute(sa.update(t.pipeline_runs).where(_P.run_id == run_id)
                             .values(**values)).rowcount
            if n == 0:
                raise ResourceDoesNotExist(f"Pipeline run {run_id!r} does not exist.")
            if fields.get("status") in (SUCCEEDED, FAILED):
                row = conn.execute(sa.select(_P.pipeline).where(_P.run_id == run_id)).one()
                self._event(conn, "pipeline_run.finished", run_id,
                            {"pipeline": row[0], "status": fields["status"],
                             "error": fields.get("error")})
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> PipelineRun:
        with self._read() as conn:
            r = conn.execute(sa.select(t.pipeline_runs).where(_P.run_id == run_id)).first()
        if r is None:
            raise ResourceDoesNotExist(
                f"Pipeline run {run_id!r} does not exist; list runs with `loopml pipeline runs`.")
        return _run(r)

    def list_runs(self, pipeline: str | None = None, status: str | None = None,
                  limit: int = 100) -> list[PipelineRun]:
        q = scoped(sa.select(t.pipeline_runs), _P.workspace)
        if pipeline:
            q = q.where(_P.pipeline == pipeline)
        if status:
            q = q.where(_P.status == status)
        with self._read() as conn:
            rows = conn.execute(q.order_by(_P.creation_time.desc(), _P.run_id)
                                .limit(max(1, min(limit, 10_000)))).all()
        return [_run(r) for r in rows]

    # ---- steps -----------------------------------------------------------------------------
    def put_step(self, step: StepRun) -> None:
        row = {k: v for k, v in step.to_dict().items() if k != "duration_ms"}
        row["inputs"], row["outputs"] = _dumps(step.inputs), _dumps(step.outputs)
        with self._tx() as conn:
            n = conn.execute(_UPDATE_STEP, {**row, "k_run_id": step.run_id,
                                            "k_step": step.step}).rowcount
            if n == 0:
                conn.execute(_INSERT_STEP, row)

    def get_steps(self, run_id: str) -> list[StepRun]:
        with self._read() as conn:
            rows = conn.execute(sa.select(t.step_runs).where(_S.run_id == run_id)
                                .order_by(_S.start_time, _S.step)).all()
        return [_step(r) for r in rows]

    # ---- cache -----------------------------------------------------------------------------
    # The cache is per workspace (migration 0013): a hit never hands one workspace the
    # outputs another computed.
    def cache_get(self, key: str) -> tuple[str, dict[str, Any]] | None:
        with self._read() as conn:
            r = conn.execute(sa.select(_C.run_id, _C.outputs).where(
                _C.workspace == creating_workspace(), _C.cache_key == key)).first()
        return (r[0], orjson.loads(r[1])) if r else None

    def cache_put(self, key: str, run_id: str, step: str, outputs: dict[str, Any]) -> None:
        ws = creating_workspace()
        with self._tx() as conn:
            conn.execute(_DELETE_CACHE, {"k": key, "ws": ws})
            conn.execute(_INSERT_CACHE, {"cache_key": key, "run_id": run_id, "step": step,
                                         "outputs": _dumps(outputs), "created_time": now_ms(),
                                         "workspace": ws})

    def cache_delete(self, key: str) -> None:
        with self._tx() as conn:
            conn.execute(sa.delete(t.step_cache).where(
                _C.workspace == creating_workspace(), _C.cache_key == key))

    # ---- triggers --------------------------------------------------------------------------
    def create_trigger(self, trigger: Trigger) -> Trigger:
        row = trigger.to_dict()
        row["spec"], row["params"] = _dumps(trigger.spec), _dumps(trigger.params)
        row["creation_time"] = trigger.creation_time or now_ms()
        row["workspace"] = ws = creating_workspace()  # names are unique per workspace
        key = (_T.workspace == ws, _T.name == trigger.name)
        with self._tx() as conn:
            if conn.execute(sa.select(_T.name).where(*key)).first():
                raise ResourceAlreadyExists(
                    f"Trigger {trigger.name!r} already exists; delete it first or pick a new --name.")
            conn.execute(sa.insert(t.pipeline_triggers).values(**row))
            self._event(conn, "pipeline_trigger.created", trigger.name, {"kind": trigger.kind},
                        ws)
            return _trigger(conn.execute(sa.select(t.pipeline_triggers).where(*key)).one())

    def list_triggers(self) -> list[Trigger]:
        with self._read() as conn:
            rows = conn.execute(scoped(sa.select(t.pipeline_triggers), _T.workspace)
                                .order_by(_T.name)).all()
        return [_trigger(r) for r in rows]

    def delete_trigger(self, name: str) -> None:
        with self._tx() as conn:
            ws = name_workspace(conn, t.pipeline_triggers, name)
            if conn.execute(sa.delete(t.pipeline_triggers).where(
                    _T.workspace == ws, _T.name == name)).rowcount == 0:
                raise ResourceDoesNotExist(f"Trigger {name!r} does not exist.")

    def fire_trigger(self, name: str, expected_marker: int, new_marker: int,
                     run: PipelineRun | None) -> bool:
        with self._tx() as conn:
            ws = name_workspace(conn, t.pipeline_triggers, name)
            moved = conn.execute(sa.update(t.pipeline_triggers).where(
                _T.workspace == ws, _T.name == name, _T.marker == expected_marker)
                .values(marker=new_marker)).rowcount
            if moved != 1:
                return False
            if run is not None:  # the run belongs to the trigger's workspace
                self._insert_run(conn, run, ws)
        return True
