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
from loopml.store._sql_util import Prepared, decode_value, in_json_ids

INFO_COLS = (
    t.runs.c.run_uuid, t.runs.c.experiment_id, t.runs.c.name, t.runs.c.user_id,
    t.runs.c.status, t.runs.c.start_time, t.runs.c.end_time, t.runs.c.artifact_uri,
    t.runs.c.lifecycle_stage,
)


def info(row: Any) -> RunInfo:
    """A RunInfo from a row of ``INFO_COLS``."""
    # Positional and without conversions but the one needed (experiment ids are ints in
    # the table, strings in the API): this runs once per run in every search page.
    return RunInfo(row[0], str(row[1]), row[2], row[3], row[4], row[5], row[6], row[7], row[8])


_RUN_INFO = Prepared(sa.select(*INFO_COLS).where(t.runs.c.run_uuid == sa.bindparam("rid")))


def load_run_info(conn: Connection, run_id: str) -> RunInfo:
    row = _RUN_INFO.first(conn, {"rid": run_id})
    assert row is not None, run_id
    return info(row)


# Built once, each with the ids as one JSON parameter (see in_json_ids): one fixed
# statement for any number of runs.
_LM, _DI, _DS, _ML = t.latest_metrics.c, t.run_dataset_inputs.c, t.datasets.c, t.run_model_links.c
_LOAD_INFO = Prepared(sa.select(*INFO_COLS).where(in_json_ids(t.runs.c.run_uuid)))
_LOAD_METRICS = Prepared(sa.select(
    _LM.run_uuid, _LM.key, _LM.value, _LM.value_kind, _LM.timestamp, _LM.step,
).where(in_json_ids(_LM.run_uuid)))
_LOAD_PARAMS = Prepared(sa.select(t.params.c.run_uuid, t.params.c.key, t.params.c.value).where(
    in_json_ids(t.params.c.run_uuid)))
_LOAD_TAGS = Prepared(sa.select(t.tags.c.run_uuid, t.tags.c.key, t.tags.c.value).where(
    in_json_ids(t.tags.c.run_uuid)))
_LOAD_DATASETS = Prepared(sa.select(
    _DI.run_uuid, _DI.tags, _DS.name, _DS.digest, _DS.source_type, _DS.source, _DS.schema,
    _DS.profile).join_from(t.run_dataset_inputs, t.datasets,
                           _DI.dataset_uuid == _DS.dataset_uuid).where(in_json_ids(_DI.run_uuid)))
_LOAD_LINKS = Prepared(sa.select(_ML.run_uuid, _ML.model_id, _ML.direction, _ML.step).where(
    in_json_ids(_ML.run_uuid)))


def load_runs(conn: Connection, run_ids: Sequence[str]) -> list[Run]:
    """Load full runs in the order of ``run_ids`` (ids not found are skipped)."""
    if not run_ids:
        return []
    found = {row[0]: info(row) for row in _LOAD_INFO.rows(conn, _ids_param(run_ids))}
    return complete_runs(conn, {rid: found[rid] for rid in run_ids if rid in found})


def _ids_param(run_ids: Sequence[str]) -> dict[str, str]:
    return {"ids": orjson.dumps(list(run_ids)).decode()}


def complete_runs(conn: Connection, infos: dict[str, RunInfo]) -> list[Run]:
    """Full runs, in the order of ``infos``, for infos already read (a search page selects
    them with its ids)."""
    if not infos:
        return []
    run_ids = list(infos)
    ids = _ids_param(run_ids)
    metrics: dict[str, dict[str, Metric]] = {r: {} for r in run_ids}
    params: dict[str, dict[str, str]] = {r: {} for r in run_ids}
    tags: dict[str, dict[str, str]] = {r: {} for r in run_ids}
    datasets: dict[str, list[DatasetInput]] = {r: [] for r in run_ids}
    model_in: dict[str, list[str]] = {r: [] for r in run_ids}
    model_out: dict[str, list[LoggedModelOutput]] = {r: [] for r in run_ids}
    for rid, key, value, kind, ts, step in _LOAD_METRICS.rows(conn, ids):
        metrics[rid][key] = Metric(key, value if kind == 0 else decode_value(value, kind), ts, step)
    for stmt, target in ((_LOAD_PARAMS, params), (_LOAD_TAGS, tags)):
        for rid, key, value in stmt.rows(conn, ids):
            target[rid][key] = value
    for drow in _LOAD_DATASETS.rows(conn, ids):
        itags = tuple(InputTag(k, v) for k, v in orjson.loads(drow[1]).items())
        datasets[drow[0]].append(
            DatasetInput(Dataset(drow[2], drow[3], drow[4], drow[5], drow[6], drow[7]), itags)
        )
    for rid, mid, direction, step in _LOAD_LINKS.rows(conn, ids):
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
    ]
