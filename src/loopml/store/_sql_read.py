"""Bulk loading of runs: a fixed number of IN queries for any number of runs (never N+1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelOutput,
    Metric,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
)
from loopml.store import _schema as t
from loopml.store._sql_util import decode_value

_CHUNK = 500  # stay under SQLite's bound-parameter limit


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    return [list(ids[i : i + _CHUNK]) for i in range(0, len(ids), _CHUNK)]


_INFO_COLS = (
    t.runs.c.run_uuid, t.runs.c.experiment_id, t.runs.c.name, t.runs.c.user_id,
    t.runs.c.status, t.runs.c.start_time, t.runs.c.end_time, t.runs.c.artifact_uri,
    t.runs.c.lifecycle_stage,
)


def _info(row: Any) -> RunInfo:
    # Positional and without conversions but the one needed (experiment ids are ints in
    # the table, strings in the API): this runs once per run in every search page.
    return RunInfo(row[0], str(row[1]), row[2], row[3], row[4], row[5], row[6], row[7], row[8])


_RUN_INFO = sa.select(*_INFO_COLS).where(t.runs.c.run_uuid == sa.bindparam("rid"))


def load_run_info(conn: Connection, run_id: str) -> RunInfo:
    row = conn.execute(_RUN_INFO, {"rid": run_id}).first()
    assert row is not None, run_id
    return _info(row)


def load_runs(conn: Connection, run_ids: Sequence[str]) -> list[Run]:
    """Load full runs in the order of ``run_ids`` (ids not found are skipped)."""
    if not run_ids:
        return []
    infos: dict[str, RunInfo] = {}
    metrics: dict[str, dict[str, Metric]] = {r: {} for r in run_ids}
    params: dict[str, dict[str, str]] = {r: {} for r in run_ids}
    tags: dict[str, dict[str, str]] = {r: {} for r in run_ids}
    datasets: dict[str, list[DatasetInput]] = {r: [] for r in run_ids}
    model_in: dict[str, list[str]] = {r: [] for r in run_ids}
    model_out: dict[str, list[LoggedModelOutput]] = {r: [] for r in run_ids}
    r = t.runs.c
    for chunk in _chunks(run_ids):
        for row in conn.execute(sa.select(*_INFO_COLS).where(r.run_uuid.in_(chunk))).all():
            infos[row[0]] = _info(row)
        lm = t.latest_metrics.c
        for rid, key, value, kind, ts, step in conn.execute(
            sa.select(lm.run_uuid, lm.key, lm.value, lm.value_kind, lm.timestamp, lm.step).where(
                lm.run_uuid.in_(chunk)
            )
        ).all():
            metrics[rid][key] = Metric(key, decode_value(value, kind), ts, step)
        for table, target in ((t.params, params), (t.tags, tags)):
            c = table.c
            for rid, key, value in conn.execute(
                sa.select(c.run_uuid, c.key, c.value).where(c.run_uuid.in_(chunk))
            ).all():
                target[rid][key] = value
        di, ds = t.run_dataset_inputs.c, t.datasets.c
        for drow in conn.execute(
            sa.select(
                di.run_uuid, di.tags, ds.name, ds.digest, ds.source_type, ds.source, ds.schema,
                ds.profile,
            )
            .join_from(t.run_dataset_inputs, t.datasets, di.dataset_uuid == ds.dataset_uuid)
            .where(di.run_uuid.in_(chunk))
        ).all():
            itags = tuple(InputTag(k, v) for k, v in orjson.loads(drow[1]).items())
            datasets[drow[0]].append(
                DatasetInput(Dataset(drow[2], drow[3], drow[4], drow[5], drow[6], drow[7]), itags)
            )
        ml = t.run_model_links.c
        for rid, mid, direction, step in conn.execute(
            sa.select(ml.run_uuid, ml.model_id, ml.direction, ml.step).where(
                ml.run_uuid.in_(chunk)
            )
        ).all():
            if direction == "input":
                model_in[rid].append(mid)
            else:
                model_out[rid].append(LoggedModelOutput(mid, step))
    return [
        Run(
            info=infos[rid],
            data=RunData(metrics[rid], params[rid], tags[rid]),
            inputs=RunInputs(tuple(datasets[rid]), tuple(model_in[rid])),
            outputs=RunOutputs(tuple(model_out[rid])),
        )
        for rid in run_ids
        if rid in infos
    ]
