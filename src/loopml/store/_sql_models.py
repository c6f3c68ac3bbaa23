"""SQL for MLflow 3 logged models and for run inputs/outputs."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.entities import (
    Dataset,
    DatasetInput,
    LoggedModel,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
)
from loopml.errors import InvalidParameterValue, ResourceDoesNotExist, invalid_param
from loopml.store import _schema as t
from loopml.store._sql_util import generate_run_name, now_ms, validate_key

_M = t.logged_models.c


def create(
    conn: Connection, experiment_id: int, experiment_location: str, name: str | None,
    source_run_id: str | None, tags: dict[str, str], params: dict[str, str],
    model_type: str | None,
) -> str:
    model_id = f"m-{uuid.uuid4().hex}"
    now = now_ms()
    conn.execute(
        sa.insert(t.logged_models).values(
            model_id=model_id, experiment_id=experiment_id, name=name or generate_run_name(),
            artifact_location=f"{experiment_location.rstrip('/')}/models/{model_id}/artifacts",
            creation_timestamp=now, last_updated_timestamp=now,
            status=LoggedModelStatus.PENDING.value, model_type=model_type,
            source_run_id=source_run_id,
        )
    )
    set_tags(conn, model_id, tags, check=False)
    if params:
        for k in params:
            validate_key(k, "param key", "create_logged_model")
        conn.execute(
            sa.insert(t.logged_model_params),
            [{"model_id": model_id, "key": k, "value": str(v)} for k, v in params.items()],
        )
    return model_id


def _exists(conn: Connection, model_id: str) -> None:
    if not conn.execute(
        sa.select(_M.model_id).where(_M.model_id == model_id, _M.lifecycle_stage == "active")
    ).first():
        raise ResourceDoesNotExist(f"Logged model with id={model_id!r} not found.")


def finalize(conn: Connection, model_id: str, status: str) -> None:
    allowed = [s.value for s in LoggedModelStatus]
    if status not in allowed:
        raise invalid_param("status", "finalize_logged_model", f"one of {allowed}", status)
    _exists(conn, model_id)
    conn.execute(
        sa.update(t.logged_models)
        .where(_M.model_id == model_id)
        .values(status=status, last_updated_timestamp=now_ms())
    )


def set_tags(conn: Connection, model_id: str, tags: dict[str, str], check: bool = True) -> None:
    if check:
        _exists(conn, model_id)
    if not tags:
        return
    for k in tags:
        validate_key(k, "tag key", "set_logged_model_tags")
    c = t.logged_model_tags.c
    conn.execute(
        sa.delete(t.logged_model_tags).where(c.model_id == model_id, c.key.in_(list(tags)))
    )
    conn.execute(
        sa.insert(t.logged_model_tags),
        [{"model_id": model_id, "key": k, "value": str(v)} for k, v in tags.items()],
    )


def log_metrics(conn: Connection, model_id: str, run_id: str, metrics: Sequence[Metric],
                dataset_name: str | None = None, dataset_digest: str | None = None) -> None:
    """The model's copy of metrics logged with its id (MLflow 3); a repeat is a no-op."""
    _exists(conn, model_id)
    from loopml.store._sql_write import _insert

    rows = [{"model_id": model_id, "run_id": run_id, "key": m.key, "timestamp": m.timestamp,
             "step": m.step, "value": None if m.value != m.value else m.value,
             "dataset_name": dataset_name, "dataset_digest": dataset_digest} for m in metrics]
    if rows:
        conn.execute(_insert(conn, t.logged_model_metrics).on_conflict_do_nothing(), rows)


def _metrics(conn: Connection, ids: Sequence[str]) -> dict[str, list[Metric]]:
    c = t.logged_model_metrics.c
    out: dict[str, list[Metric]] = {i: [] for i in ids}
    for mid, key, value, ts, step, run_id in conn.execute(
        sa.select(c.model_id, c.key, c.value, c.timestamp, c.step, c.run_id)
        .where(c.model_id.in_(list(ids))).order_by(c.key, c.step, c.timestamp)
    ):
        out[mid].append(Metric(key, float("nan") if value is None else value, ts, step, run_id))
    return out


def log_params(conn: Connection, model_id: str, params: dict[str, str]) -> None:
    _exists(conn, model_id)
    c = t.logged_model_params.c
    existing = dict(
        conn.execute(sa.select(c.key, c.value).where(c.model_id == model_id)).all()
    )
    new = []
    for k, v in params.items():
        validate_key(k, "param key", "log_logged_model_params")
        if k in existing and existing[k] != v:
            raise InvalidParameterValue(
                f"Param {k!r} of logged model {model_id} is already {existing[k]!r}; params are "
                "write-once."
            )
        if k not in existing:
            new.append({"model_id": model_id, "key": k, "value": str(v)})
    if new:
        conn.execute(sa.insert(t.logged_model_params), new)


def delete_tag(conn: Connection, model_id: str, key: str) -> None:
    _exists(conn, model_id)
    c = t.logged_model_tags.c
    if not conn.execute(
        sa.delete(t.logged_model_tags).where(c.model_id == model_id, c.key == key)
    ).rowcount:
        raise ResourceDoesNotExist(f"No tag {key!r} on logged model {model_id!r}.")


def delete(conn: Connection, model_id: str) -> None:
    _exists(conn, model_id)
    conn.execute(
        sa.update(t.logged_models)
        .where(_M.model_id == model_id)
        .values(lifecycle_stage="deleted", last_updated_timestamp=now_ms())
    )


def load(conn: Connection, ids: Sequence[str]) -> list[LoggedModel]:
    if not ids:
        return []
    rows = {
        r.model_id: r
        for r in conn.execute(
            sa.select(t.logged_models).where(_M.model_id.in_(list(ids)), _M.lifecycle_stage == "active")
        )
    }
    tags: dict[str, dict[str, str]] = {i: {} for i in ids}
    params: dict[str, dict[str, str]] = {i: {} for i in ids}
    for table, target in ((t.logged_model_tags, tags), (t.logged_model_params, params)):
        c = table.c
        for mid, k, v in conn.execute(
            sa.select(c.model_id, c.key, c.value).where(c.model_id.in_(list(ids)))
        ):
            target[mid][k] = v
    metrics = _metrics(conn, ids)
    out = []
    for i in ids:
        r = rows.get(i)
        if r is None:
            continue
        out.append(
            LoggedModel(
                model_id=r.model_id, experiment_id=str(r.experiment_id), name=r.name,
                artifact_location=r.artifact_location, creation_timestamp=r.creation_timestamp,
                last_updated_timestamp=r.last_updated_timestamp, status=r.status,
                status_message=r.status_message, model_type=r.model_type,
                source_run_id=r.source_run_id, tags=tags[i], params=params[i],
                metrics=tuple(metrics[i]),
            )
        )
    return out


def write_inputs(
    conn: Connection, run_id: str, experiment_id: int, datasets: Sequence[DatasetInput],
    model_ids: Sequence[str],
) -> list[Dataset]:
    """Returns the datasets seen for the first time (new versions), for the event log."""
    ds = t.datasets.c
    new: list[Dataset] = []
    for d in datasets:
        for field in ("name", "digest", "source_type", "source"):
            if not isinstance(getattr(d.dataset, field), str):
                raise invalid_param(f"dataset.{field}", "log_inputs", "a string", getattr(d.dataset, field))
        # A dataset is identified by (experiment, name, digest): logging it twice reuses it.
        dsid = conn.execute(
            sa.select(ds.dataset_uuid).where(
                ds.experiment_id == experiment_id, ds.name == d.dataset.name,
                ds.digest == d.dataset.digest,
            )
        ).scalar()
        if dsid is None:
            dsid = hashlib.sha256(
                f"{experiment_id}\0{d.dataset.name}\0{d.dataset.digest}".encode()
            ).hexdigest()[:32]
            conn.execute(
                sa.insert(t.datasets).values(
                    dataset_uuid=dsid, experiment_id=experiment_id, name=d.dataset.name,
                    digest=d.dataset.digest, source_type=d.dataset.source_type,
                    source=d.dataset.source, schema=d.dataset.schema, profile=d.dataset.profile,
                )
            )
            new.append(d.dataset)
        di = t.run_dataset_inputs.c
        if not conn.execute(
            sa.select(di.run_uuid).where(di.run_uuid == run_id, di.dataset_uuid == dsid)
        ).first():
            conn.execute(
                sa.insert(t.run_dataset_inputs).values(
                    run_uuid=run_id, dataset_uuid=dsid,
                    tags=orjson.dumps({x.key: x.value for x in d.tags}).decode(),
                )
            )
    _link(conn, run_id, [(m, 0) for m in model_ids], "input")
    return new


def write_outputs(conn: Connection, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
    _link(conn, run_id, [(m.model_id, m.step) for m in models], "output")


def _link(conn: Connection, run_id: str, items: list[tuple[str, int]], direction: str) -> None:
    ml = t.run_model_links.c
    for model_id, step in items:
        conn.execute(
            sa.delete(t.run_model_links).where(
                ml.run_uuid == run_id, ml.model_id == model_id, ml.direction == direction
            )
        )
        conn.execute(
            sa.insert(t.run_model_links).values(
                run_uuid=run_id, model_id=model_id, direction=direction, step=step
            )
        )
