"""The write path for metrics, params and tags: one transaction, executemany, no per-row reads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from loopml.entities import Metric, Param, RunTag
from loopml.errors import InvalidParameterValue, invalid_param
from loopml.store import _schema as t
from loopml.store._sql_util import (
    MAX_PARAM_VALUE_LEN,
    MAX_TAG_VALUE_LEN,
    Prepared,
    driver_cursor,
    encode_value,
    validate_key,
)

MAX_METRICS, MAX_PARAMS, MAX_TAGS = 1000, 100, 100
RUN_NAME_TAG = "mlflow.runName"


def _insert(conn: Connection, table: sa.Table) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


# Building an upsert costs more than running it (column proxies for ``excluded``), and the
# insert construct itself differs by dialect, so the hot-path statements are built once per
# dialect (each Prepared then compiles once).
_STATEMENTS: dict[tuple[str, str], Prepared] = {}


def _cached(conn: Connection, name: str, build: Callable[[Connection], Prepared]) -> Prepared:
    key = (conn.dialect.name, name)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build(conn)
    return stmt


def _latest_upsert(conn: Connection) -> Prepared:
    ins = _insert(conn, t.latest_metrics)
    ex = ins.excluded
    lm = t.latest_metrics.c
    newer = sa.or_(ex.step > lm.step, sa.and_(ex.step == lm.step, ex.timestamp >= lm.timestamp))
    return Prepared(ins.on_conflict_do_update(
        index_elements=[lm.run_uuid, lm.key],
        set_={"value": ex.value, "value_kind": ex.value_kind, "timestamp": ex.timestamp,
              "step": ex.step},
        where=newer,
    ), columns=["run_uuid", "key", "value", "value_kind", "timestamp", "step"])


def _tags_upsert(conn: Connection) -> Prepared:
    ins = _insert(conn, t.tags)
    return Prepared(ins.on_conflict_do_update(
        index_elements=[t.tags.c.run_uuid, t.tags.c.key], set_={"value": ins.excluded.value}
    ), columns=["run_uuid", "key", "value"])


def validate_batch(
    metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
) -> None:
    """Validate everything before writing anything, so a batch is all-or-nothing."""
    if len(metrics) > MAX_METRICS:
        raise invalid_param("metrics", "log_batch", f"at most {MAX_METRICS} items", len(metrics))
    if len(params) > MAX_PARAMS:
        raise invalid_param("params", "log_batch", f"at most {MAX_PARAMS} items", len(params))
    if len(tags) > MAX_TAGS:
        raise invalid_param("tags", "log_batch", f"at most {MAX_TAGS} items", len(tags))
    keys = set()
    for m in metrics:
        keys.add(m.key)
        if type(m.value) is not float and (isinstance(m.value, bool) or not isinstance(m.value, int | float)):
            raise invalid_param(f"value of metric {m.key!r}", "log_batch", "a number", m.value)
        if type(m.timestamp) is not int or type(m.step) is not int:
            for name in ("timestamp", "step"):
                v = getattr(m, name)
                if isinstance(v, bool) or not isinstance(v, int):
                    raise invalid_param(f"{name} of metric {m.key!r}", "log_batch", "an int", v)
    for k in keys:  # a batch repeats a few keys many times: check each once
        validate_key(k, "metric key", "log_batch")
    seen: dict[str, str] = {}
    for p in params:
        validate_key(p.key, "param key", "log_batch")
        if not isinstance(p.value, str):
            raise invalid_param(f"value of param {p.key!r}", "log_batch", "a string", p.value)
        if len(p.value) > MAX_PARAM_VALUE_LEN:
            raise invalid_param(
                f"value of param {p.key!r}", "log_batch",
                f"at most {MAX_PARAM_VALUE_LEN} characters", f"{len(p.value)} characters",
            )
        if seen.setdefault(p.key, p.value) != p.value:
            raise InvalidParameterValue(
                f"Param {p.key!r} appears twice in one batch with different values."
            )
    for tg in tags:
        validate_key(tg.key, "tag key", "log_batch")
        if not isinstance(tg.value, str):
            raise invalid_param(f"value of tag {tg.key!r}", "log_batch", "a string", tg.value)
        if len(tg.value) > MAX_TAG_VALUE_LEN:
            raise invalid_param(
                f"value of tag {tg.key!r}", "log_batch",
                f"at most {MAX_TAG_VALUE_LEN} characters", f"{len(tg.value)} characters",
            )


_METRICS_SQL = {
    # Written as driver SQL with positional tuples: for a 1,000-point batch, SQLAlchemy's
    # per-row parameter processing cost more than the insert itself. The column list
    # matches _schema.metrics; the statement is identical to Core's insert + ON CONFLICT.
    "sqlite": "INSERT INTO metrics (run_uuid, key, value, value_kind, timestamp, step) "
              "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    "postgresql": "INSERT INTO metrics (run_uuid, key, value, value_kind, timestamp, step) "
                  "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
}


def write_metrics(conn: Connection, run_id: str, metrics: Sequence[Metric]) -> None:
    if not metrics:
        return
    rows = []
    latest: dict[str, tuple[int, int, float | None, int]] = {}
    for m in metrics:
        v = m.value
        if v != v or v == 0.0:  # NaN, or a zero whose sign must be kept
            value, kind = encode_value(float(v))
        else:
            value, kind = float(v), 0
        rows.append((run_id, m.key, value, kind, m.timestamp, m.step))
        cur = latest.get(m.key)
        # The latest point is the max by (step, timestamp), later arrival winning ties.
        if cur is None or (m.step, m.timestamp) >= (cur[0], cur[1]):
            latest[m.key] = (m.step, m.timestamp, value, kind)
    with driver_cursor(conn) as dbc:
        dbc.executemany(_METRICS_SQL[conn.dialect.name], rows)
    _cached(conn, "latest", _latest_upsert).execute_many(
        conn,
        [{"run_uuid": run_id, "key": k, "value": v, "value_kind": kd, "timestamp": ts, "step": st}
         for k, (st, ts, v, kd) in latest.items()],
    )


def write_params(conn: Connection, run_id: str, params: Sequence[Param]) -> None:
    if not params:
        return
    p = t.params.c
    keys = [x.key for x in params]
    existing = dict(
        conn.execute(
            sa.select(p.key, p.value).where(p.run_uuid == run_id, p.key.in_(keys))
        ).all()
    )
    new = []
    for x in params:
        old = existing.get(x.key)
        if old is None:
            new.append({"run_uuid": run_id, "key": x.key, "value": x.value})
            existing[x.key] = x.value
        elif old != x.value:
            raise InvalidParameterValue(
                f"Changing param values is not allowed. Param with key={x.key!r} was already "
                f"logged with value={old!r} for run ID={run_id!r}. Attempted logging new value "
                f"{x.value!r}. Log it under a new key, or start a new run."
            )
    if new:
        conn.execute(sa.insert(t.params), new)


def write_tags(conn: Connection, run_id: str, tags: Sequence[RunTag]) -> None:
    if not tags:
        return
    rows = {x.key: {"run_uuid": run_id, "key": x.key, "value": x.value} for x in tags}
    _cached(conn, "tags", _tags_upsert).execute_many(conn, list(rows.values()))
    if RUN_NAME_TAG in rows:
        # MLflow keeps the run name and the mlflow.runName tag in step.
        conn.execute(
            sa.update(t.runs)
            .where(t.runs.c.run_uuid == run_id)
            .values(name=rows[RUN_NAME_TAG]["value"][:250])
        )

