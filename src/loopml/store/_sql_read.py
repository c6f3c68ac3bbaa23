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


# Built once with an expanding bind parameter: building ``.in_(list)`` per call coerced
# every id (about 40% of a 300-run search page's server time).
_IDS: sa.BindParameter[str] = sa.bindparam("ids", expanding=True)
_LM, _DI, _DS, _ML = t.latest_metrics.c, t.run_dataset_inputs.c, t.datasets.c, t.run_model_links.c
_LOAD_INFO = sa.select(*_INFO_COLS).where(t.runs.c.run_uuid.in_(_IDS))
_LOAD_METRICS = sa.select(_LM.run_uuid, _LM.key, _LM.value, _LM.value_kind, _LM.timestamp,
                          _LM.step).where(_LM.run_uuid.in_(_IDS))
_LOAD_PARAMS = sa.select(t.params.c.run_uuid, t.params.c.key, t.params.c.value).where(
    t.params.c.run_uuid.in_(_IDS))
_LOAD_TAGS = sa.select(t.tags.c.run_uuid, t.tags.c.key, t.tags.c.value).where(
    t.tags.c.run_uuid.in_(_IDS))
_LOAD_DATASETS = sa.select(
    _DI.run_uuid, _DI.tags, _DS.name, _DS.digest, _DS.source_type, _DS.source, _DS.schema,
    _DS.profile).join_from(t.run_dataset_inputs, t.datasets,
                           _DI.dataset_uuid == _DS.dataset_uuid).where(_DI.run_uuid.in_(_IDS))
_LOAD_LINKS = sa.select(_ML.run_uuid, _ML.model_id, _ML.direction, _ML.step).where(
    _ML.run_uuid.in_(_IDS))


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
    for chunk in _chunks(run_ids):
        ids = {"ids": list(chunk)}
        for row in conn.execute(_LOAD_INFO, ids).all():
            infos[row[0]] = _info(row)
        for rid, key, value, kind, ts, step in conn.execute(_LOAD_METRICS, ids).all():
            metrics[rid][key] = Metric(key, decode_value(value, kind), ts, step)
        for stmt, target in ((_LOAD_PARAMS, params), (_LOAD_TAGS, tags)):
            for rid, key, value in conn.execute(stmt, ids).all():
                target[rid][key] = value
        for drow in conn.execute(_LOAD_DATASETS, ids).all():
            itags = tuple(InputTag(k, v) for k, v in orjson.loads(drow[1]).items())
            datasets[drow[0]].append(
                DatasetInput(Dataset(drow[2], drow[3], drow[4], drow[5], drow[6], drow[7]), itags)
            )
        for rid, mid, direction, step in conn.execute(_LOAD_LINKS, ids).all():
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
