"""SQL metadata store on SQLAlchemy 2 Core: SQLite (embedded default) and PostgreSQL.
Experiments live in _sql_experiments.py (a base class of SqlStore).

Hot paths (log_batch, metric history, search) use Core statements and plain tuples; no ORM
objects. On SQLite every write transaction starts with BEGIN IMMEDIATE (see _engine), so
concurrent writers from several processes queue on the busy timeout instead of failing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.entities import (
    DatasetInput,
    Event,
    LifecycleStage,
    LoggedModel,
    LoggedModelOutput,
    Metric,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from loopml.errors import (
    InvalidParameterValue,
    InvalidState,
    ResourceDoesNotExist,
    invalid_param,
)
from loopml.security import quotas
from loopml.security.actor import current_actor
from loopml.store import _schema as t
from loopml.store import _search, _sql_models, _sql_write
from loopml.store._engine import create_engine, upgrade
from loopml.store._sql_experiments import SqlExperiments
from loopml.store._sql_read import complete_runs, info, load_run_info, load_runs
from loopml.store._sql_util import (
    Prepared,
    check_max_results,
    decode_page_token,
    decode_value,
    encode_page_token,
    generate_run_name,
    now_ms,
    validate_name,
)
from loopml.store.base import TrackingStore
from loopml.store.datasets_sql import register_logged_dataset

_E, _R = t.experiments.c, t.runs.c
_M = t.metrics.c
# Ordered by the covering index alone (no id tiebreak): SQLite then streams rows off the
# index instead of sorting 20k rows in a temp b-tree.
_HISTORY_SELECT = (
    sa.select(_M.value, _M.value_kind, _M.timestamp, _M.step)
    .where(_M.run_uuid == sa.bindparam("rid"), _M.key == sa.bindparam("key"))
    .order_by(_M.step, _M.timestamp)
)
_HISTORY = Prepared(_HISTORY_SELECT)
_HISTORY_PAGE = Prepared(
    _HISTORY_SELECT.offset(sa.bindparam("off")).limit(sa.bindparam("lim"))
)

# Per-request statements, built once with bound parameters: constructing a Core statement
# costs more than executing it on SQLite, and these run on every write.
_RUN_STATE = Prepared(sa.select(_R.lifecycle_stage, _R.experiment_id).where(
    _R.run_uuid == sa.bindparam("rid")
))
_EXP_FOR_RUN = Prepared(sa.select(_E.artifact_location, _E.lifecycle_stage, _E.workspace).where(
    _E.experiment_id == sa.bindparam("eid")
))
_RUN_COLUMNS = ["run_uuid", "experiment_id", "name", "user_id", "status", "start_time",
                "end_time", "deleted_time", "lifecycle_stage", "artifact_uri"]
_INSERT_RUN = Prepared(sa.insert(t.runs), columns=_RUN_COLUMNS)
_UPDATE_RUN = sa.update(t.runs).where(_R.run_uuid == sa.bindparam("rid"))


class SqlStore(SqlExperiments, TrackingStore):
    def __init__(self, db_uri: str, default_artifact_root: str) -> None:
        self.db_uri = db_uri
        self.default_artifact_root = default_artifact_root.rstrip("/")
        self.engine = create_engine(db_uri)
        upgrade(self.engine)
        with self._tx() as conn:
            # The migration cannot know the artifact root; fill in the Default experiment's.
            conn.execute(
                sa.update(t.experiments)
                .where(_E.experiment_id == 0, _E.artifact_location == "")
                .values(artifact_location=f"{self.default_artifact_root}/0")
            )

    def close(self) -> None:
        self.engine.dispose()

    # ---- runs --------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str = "",
        start_time: int | None = None,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
    ) -> Run:
        eid = self._exp_id(experiment_id, "create_run")
        tag_map = {x.key: x.value for x in tags}
        name = run_name or tag_map.get(_sql_write.RUN_NAME_TAG) or generate_run_name()
        if run_name and tag_map.get(_sql_write.RUN_NAME_TAG, run_name) != run_name:
            raise InvalidParameterValue(
                f"run_name {run_name!r} and tag mlflow.runName "
                f"{tag_map[_sql_write.RUN_NAME_TAG]!r} disagree; pass only one of them."
            )
        validate_name(name, "run_name", "create_run")
        tag_map[_sql_write.RUN_NAME_TAG] = name
        all_tags = [RunTag(k, v) for k, v in tag_map.items()]
        _sql_write.validate_batch([], [], all_tags)
        run_id = uuid.uuid4().hex
        start = start_time if start_time is not None else now_ms()
        with self._tx() as conn:
            row = _EXP_FOR_RUN.first(conn, {"eid": eid})
            if row is None:
                raise ResourceDoesNotExist(f"No experiment with id={experiment_id!r}.")
            if row[1] != "active":
                raise InvalidState(
                    f"Experiment {experiment_id!r} is deleted; restore it before creating runs."
                )
            quotas.enforce(conn, row[2], "runs")  # before the insert: a refusal writes nothing
            artifact_uri = f"{row[0].rstrip('/')}/{run_id}/artifacts"
            _INSERT_RUN.execute_many(conn, [
                {"run_uuid": run_id, "experiment_id": eid, "name": name,
                 "user_id": user_id or "", "status": RunStatus.RUNNING.value,
                 "start_time": start, "end_time": None, "deleted_time": None,
                 "lifecycle_stage": "active", "artifact_uri": artifact_uri},
            ])
            _sql_write.write_tags(conn, run_id, all_tags)
            self._event(conn, "run.created", run_id, {"experiment_id": str(eid)})
        # Everything about a new run is known here: no need to read it back.
        return Run(
            info=RunInfo(run_id, str(eid), name, user_id or "", RunStatus.RUNNING.value,
                         start, None, artifact_uri),
            data=RunData(tags={x.key: x.value for x in all_tags}),
        )

    @staticmethod
    def _check_run_id(run_id: object, where: str) -> str:
        if not isinstance(run_id, str) or not run_id or len(run_id) > 32 or not run_id.isalnum():
            raise invalid_param("run_id", where, "a run id (32 hex characters)", run_id)
        return run_id

    def get_run(self, run_id: str) -> Run:
        self._check_run_id(run_id, "get_run")
        with self._read() as conn:
            runs = load_runs(conn, [run_id])
        if not runs:
            raise ResourceDoesNotExist(f"Run with id={run_id!r} not found.")
        return runs[0]

    def _active_run(self, conn: Connection, run_id: str, where: str) -> tuple[str, int]:
        self._check_run_id(run_id, where)
        row = _RUN_STATE.first(conn, {"rid": run_id})
        if row is None:
            raise ResourceDoesNotExist(f"Run with id={run_id!r} not found.")
        if row[0] != "active":
            raise InvalidState(
                f"The run {run_id} must be in the 'active' state to be modified. Current state "
                f"is {row[0]}; restore it first."
            )
        return str(row[0]), int(row[1])

    def update_run_info(
        self,
        run_id: str,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        values: dict[str, Any] = {}
        if status is not None:
            if status not in RunStatus.__members__:
                raise invalid_param(
                    "status", "update_run", f"one of {sorted(RunStatus.__members__)}", status
                )
            values["status"] = status
        if end_time is not None:
            values["end_time"] = end_time
        with self._tx() as conn:
            self._active_run(conn, run_id, "update_run")
            if values:
                conn.execute(_UPDATE_RUN, {"rid": run_id, **values})
            if run_name:
                validate_name(run_name, "run_name", "update_run")
                _sql_write.write_tags(conn, run_id, [RunTag(_sql_write.RUN_NAME_TAG, run_name)])
            if status and RunStatus(status).is_terminated:
                self._event(conn, "run.finished", run_id, {"status": status})
            return load_run_info(conn, run_id)

    def _set_run_stage(self, run_id: str, stage: str, where: str) -> None:
        self._check_run_id(run_id, where)
        with self._tx() as conn:
            n = conn.execute(
                sa.update(t.runs)
                .where(_R.run_uuid == run_id)
                .values(
                    lifecycle_stage=stage, deleted_time=now_ms() if stage == "deleted" else None
                )
            ).rowcount
            if not n:
                raise ResourceDoesNotExist(f"Run with id={run_id!r} not found.")

    def delete_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.DELETED.value, "delete_run")

    def restore_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.ACTIVE.value, "restore_run")

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        _sql_write.validate_batch(metrics, params, tags)
        with self._tx() as conn:
            self._active_run(conn, run_id, "log_batch")
            _sql_write.write_params(conn, run_id, params)
            _sql_write.write_metrics(conn, run_id, metrics)
            _sql_write.write_tags(conn, run_id, tags)

    def delete_tag(self, run_id: str, key: str) -> None:
        with self._tx() as conn:
            self._active_run(conn, run_id, "delete_tag")
            n = conn.execute(
                sa.delete(t.tags).where(t.tags.c.run_uuid == run_id, t.tags.c.key == key)
            ).rowcount
            if not n:
                raise ResourceDoesNotExist(f"No tag with key={key!r} on run {run_id!r}.")

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        self._check_run_id(run_id, "get_metric_history")
        offset = decode_page_token(page_token, "get_metric_history")
        args: dict[str, Any] = {"rid": run_id, "key": metric_key}
        q = _HISTORY
        if max_results is not None:
            check_max_results(max_results, "get_metric_history", 10**9)
            q, args["off"], args["lim"] = _HISTORY_PAGE, offset, max_results + 1
        with self._read() as conn:
            rows = q.rows(conn, args)
            if not rows and _RUN_STATE.first(conn, {"rid": run_id}) is None:
                raise ResourceDoesNotExist(f"Run with id={run_id!r} not found.")
        token = None
        if max_results is not None and len(rows) > max_results:
            rows, token = rows[:max_results], encode_page_token(offset + max_results)
        # tuple.__new__ directly: Metric's generated __new__ (defaults, keywords) costs more
        # than the row itself at 20k points.
        new, cls = tuple.__new__, Metric
        return PagedList(
            [new(cls, (metric_key, v if kd == 0 else decode_value(v, kd), ts, st, None))
             for v, kd, ts, st in rows],
            token,
        )

    def get_metric_history_bulk_interval(
        self,
        run_ids: Sequence[str],
        metric_key: str,
        max_results: int,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> list[Metric]:
        for r in run_ids:
            self._check_run_id(r, "get_metric_history_bulk_interval")
        check_max_results(max_results, "get_metric_history_bulk_interval", 10**6)
        m = t.metrics.c
        out: list[Metric] = []
        with self._read() as conn:
            for rid in run_ids:
                q = sa.select(m.step).distinct().where(m.run_uuid == rid, m.key == metric_key)
                if start_step is not None:
                    q = q.where(m.step >= start_step)
                if end_step is not None:
                    q = q.where(m.step <= end_step)
                steps = sorted(conn.execute(q).scalars())
                if len(steps) > max_results:
                    # Evenly spaced steps, always keeping the first and the last.
                    n = len(steps) - 1
                    idx = {round(i * n / (max_results - 1)) for i in range(max_results)} if max_results > 1 else {0}
                    steps = [steps[i] for i in sorted(idx)]
                if not steps:
                    continue
                for lo in range(0, len(steps), 500):
                    chunk = steps[lo : lo + 500]
                    for k, v, kd, ts, st in conn.execute(
                        sa.select(m.key, m.value, m.value_kind, m.timestamp, m.step)
                        .where(m.run_uuid == rid, m.key == metric_key, m.step.in_(chunk))
                        .order_by(m.step, m.timestamp, m.id)
                    ):
                        out.append(Metric(k, decode_value(v, kd), ts, st, run_id=rid))
        return out

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        check_max_results(max_results, "search_runs")
        offset = decode_page_token(page_token, "search_runs")
        eids = [self._exp_id(e, "search_runs") for e in experiment_ids]
        q = _search.prepared_runs_select(
            tuple(eids), filter_string, run_view_type, tuple(order_by or ()), offset,
            max_results + 1,
        )
        with self._read() as conn:
            rows = q.rows(conn)
            runs = complete_runs(conn, {row[0]: info(row) for row in rows[:max_results]})
        token = encode_page_token(offset + max_results) if len(rows) > max_results else None
        return PagedList(runs, token)

    def log_inputs(
        self, run_id: str, datasets: Sequence[DatasetInput] = (), model_ids: Sequence[str] = ()
    ) -> None:
        with self._tx() as conn:
            _, eid = self._active_run(conn, run_id, "log_inputs")
            for d in _sql_models.write_inputs(conn, run_id, eid, datasets, model_ids):
                # The dataset registry lists what any client logs (mlflow.log_input too).
                version = register_logged_dataset(conn, d)
                self._event(conn, "dataset.version_created", d.name, {
                    "name": d.name, "digest": d.digest, "source": d.source,
                    "experiment_id": str(eid), "run_id": run_id, "version": version})

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        with self._tx() as conn:
            self._active_run(conn, run_id, "log_outputs")
            _sql_models.write_outputs(conn, run_id, models)

    # ---- garbage collection ------------------------------------------------------------
    def list_deleted_run_ids(self, older_than_ms: int | None = None) -> list[str]:
        q = sa.select(_R.run_uuid).where(_R.lifecycle_stage == "deleted")
        if older_than_ms is not None:
            q = q.where(_R.deleted_time <= now_ms() - older_than_ms)
        with self._read() as conn:
            return list(conn.execute(q.order_by(_R.run_uuid)).scalars())

    def permanently_delete_run(self, run_id: str) -> str:
        self._check_run_id(run_id, "permanently_delete_run")
        with self._tx() as conn:
            row = conn.execute(
                sa.select(_R.lifecycle_stage, _R.artifact_uri).where(_R.run_uuid == run_id)
            ).first()
            if row is None:
                raise ResourceDoesNotExist(f"Run with id={run_id!r} not found.")
            if row[0] != "deleted":
                raise InvalidState(f"Run {run_id} is not deleted; delete it before purging it.")
            # Child tables cascade on PostgreSQL and on SQLite (foreign_keys=ON), but delete
            # explicitly so a database created without the pragma is purged as well.
            for table in (t.metrics, t.latest_metrics, t.params, t.tags, t.run_dataset_inputs,
                          t.run_model_links):
                conn.execute(sa.delete(table).where(table.c.run_uuid == run_id))
            conn.execute(sa.delete(t.runs).where(_R.run_uuid == run_id))
            self._event(conn, "run.purged", run_id, {"artifact_uri": row[1]})
        return str(row[1])

    # ---- logged models (MLflow 3) ------------------------------------------------------
    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        eid = self._exp_id(experiment_id, "create_logged_model")
        with self._tx() as conn:
            self._experiment_stage(conn, eid)
            loc = conn.execute(
                sa.select(_E.artifact_location).where(_E.experiment_id == eid)
            ).scalar_one()
            model_id = _sql_models.create(
                conn, eid, loc, name, source_run_id, tags or {}, params or {}, model_type
            )
            self._event(conn, "logged_model.created", model_id, {"experiment_id": str(eid)})
        return self.get_logged_model(model_id)

    def get_logged_model(self, model_id: str) -> LoggedModel:
        with self._read() as conn:
            models = _sql_models.load(conn, [model_id])
        if not models:
            raise ResourceDoesNotExist(f"Logged model with id={model_id!r} not found.")
        return models[0]

    def finalize_logged_model(self, model_id: str, status: str) -> LoggedModel:
        with self._tx() as conn:
            _sql_models.finalize(conn, model_id, status)
            self._event(conn, "logged_model.finalized", model_id, {"status": status})
        return self.get_logged_model(model_id)

    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None:
        with self._tx() as conn:
            _sql_models.set_tags(conn, model_id, tags)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        with self._tx() as conn:
            _sql_models.delete_tag(conn, model_id, key)

    def log_logged_model_params(self, model_id: str, params: dict[str, str]) -> None:
        with self._tx() as conn:
            _sql_models.log_params(conn, model_id, params)

    def log_logged_model_metrics(self, model_id: str, run_id: str, metrics: Sequence[Metric],
                                 dataset_name: str | None = None,
                                 dataset_digest: str | None = None) -> None:
        with self._tx() as conn:
            _sql_models.log_metrics(conn, model_id, run_id, metrics, dataset_name, dataset_digest)

    def delete_logged_model(self, model_id: str) -> None:
        with self._tx() as conn:
            _sql_models.delete(conn, model_id)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[dict[str, Any]] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        check_max_results(max_results, "search_logged_models")
        offset = decode_page_token(page_token, "search_logged_models")
        eids = [self._exp_id(e, "search_logged_models") for e in experiment_ids]
        q = _search.logged_models_select(
            eids, filter_string, list(order_by or []), offset, max_results + 1
        )
        with self._read() as conn:
            ids = list(conn.execute(q).scalars())
            models = _sql_models.load(conn, ids[:max_results])
        token = encode_page_token(offset + max_results) if len(ids) > max_results else None
        return PagedList(models, token)

    # ---- events --------------------------------------------------------------------------
    def append_event(
        self, type: str, subject: str, payload: dict[str, Any] | None = None,
        workspace: str = "default",
    ) -> int:
        actor, kind = current_actor()  # the caller of the request, or the service (actor.py)
        with self._tx() as conn:
            return int(
                conn.execute(
                    sa.insert(t.events)
                    .values(
                        type=type, subject=subject, payload=orjson.dumps(payload or {}).decode(),
                        time=now_ms(), workspace=workspace, actor=actor, actor_kind=kind,
                    )
                    .returning(t.events.c.seq)
                ).scalar_one()
            )

    def read_events(
        self, after_seq: int = 0, types: Sequence[str] | None = None, limit: int = 1000
    ) -> list[Event]:
        c = t.events.c
        q = sa.select(c.seq, c.type, c.subject, c.payload, c.time, c.workspace, c.actor,
                      c.actor_kind).where(
            c.seq > after_seq
        )
        if types:
            q = q.where(c.type.in_(list(types)))
        with self._read() as conn:
            rows = conn.execute(q.order_by(c.seq).limit(limit)).all()
        return [Event(r[0], r[1], r[2], orjson.loads(r[3]), r[4], r[5], r[6], r[7]) for r in rows]
