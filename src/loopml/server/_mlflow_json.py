"""loopml entities <-> MLflow REST JSON (protobuf JSON conventions, field names as in MLflow)."""

from __future__ import annotations

from typing import Any

from loopml._json import float_to_json
from loopml.entities import (
    Experiment,
    LoggedModel,
    Metric,
    ModelVersion,
    RegisteredModel,
    Run,
    RunInfo,
)


def page(name: str, items: list[dict[str, Any]], next_page_token: str | None) -> dict[str, Any]:
    """A search response: the items under ``name`` and the token only when there is more."""
    out: dict[str, Any] = {name: items}
    if next_page_token:
        out["next_page_token"] = next_page_token
    return out


def kv(d: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in d.items()]


def experiment(e: Experiment) -> dict[str, Any]:
    return {
        "experiment_id": e.experiment_id,
        "name": e.name,
        "artifact_location": e.artifact_location,
        "lifecycle_stage": e.lifecycle_stage,
        "last_update_time": e.last_update_time,
        "creation_time": e.creation_time,
        "tags": kv(e.tags),
    }


def metric(m: Metric) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": m.key, "value": float_to_json(m.value), "timestamp": m.timestamp, "step": m.step
    }
    if m.run_id is not None:
        out["run_id"] = m.run_id
    return out


def run_info(i: RunInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "run_id": i.run_id,
        "run_uuid": i.run_id,
        "run_name": i.run_name,
        "experiment_id": i.experiment_id,
        "user_id": i.user_id,
        "status": i.status,
        "artifact_uri": i.artifact_uri,
        "lifecycle_stage": i.lifecycle_stage,
    }
    if i.start_time is not None:
        out["start_time"] = i.start_time
    if i.end_time is not None:
        out["end_time"] = i.end_time
    return out


def _inputs(r: Run) -> dict[str, Any]:
    return {
        "dataset_inputs": [
            {
                "tags": [{"key": t.key, "value": t.value} for t in d.tags],
                "dataset": {
                    k: v
                    for k, v in {
                        "name": d.dataset.name, "digest": d.dataset.digest,
                        "source_type": d.dataset.source_type, "source": d.dataset.source,
                        "schema": d.dataset.schema, "profile": d.dataset.profile,
                    }.items()
                    if v is not None
                },
            }
            for d in r.inputs.dataset_inputs
        ],
        "model_inputs": [{"model_id": m} for m in r.inputs.model_inputs],
    }


def run(r: Run) -> dict[str, Any]:
    # Search pages map hundreds of runs: the inputs/outputs sections are only built when a
    # run has any (empty sections are what protobuf JSON omits anyway).
    d = r.data
    return {
        "info": run_info(r.info),
        "data": {
            "metrics": [metric(m) for m in d.metrics.values()],
            "params": kv(d.params),
            "tags": kv(d.tags),
        },
        "inputs": _inputs(r) if r.inputs.dataset_inputs or r.inputs.model_inputs else {},
        "outputs": {
            "model_outputs": [{"model_id": m.model_id, "step": m.step} for m in r.outputs.model_outputs]
        } if r.outputs.model_outputs else {},
    }


def logged_model(m: LoggedModel) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model_id": m.model_id,
        "experiment_id": m.experiment_id,
        "name": m.name,
        "creation_timestamp_ms": m.creation_timestamp,
        "last_updated_timestamp_ms": m.last_updated_timestamp,
        "artifact_uri": m.artifact_location,
        "status": m.status,
        "tags": kv(m.tags),
    }
    for k in ("model_type", "source_run_id", "status_message"):
        if getattr(m, k) is not None:
            info[k] = getattr(m, k)
    return {
        "info": info,
        "data": {"params": kv(m.params), "metrics": [metric(x) for x in m.metrics]},
    }


def model_version(v: ModelVersion) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": v.name,
        "version": str(v.version),
        "creation_timestamp": v.creation_timestamp,
        "last_updated_timestamp": v.last_updated_timestamp,
        "current_stage": v.current_stage,
        "source": v.source,
        "status": v.status,
        "tags": kv(v.tags),
        "aliases": list(v.aliases),
    }
    for k in ("description", "user_id", "run_id", "run_link", "status_message", "model_id"):
        if getattr(v, k) is not None:
            out[k] = getattr(v, k)
    return out


def registered_model(m: RegisteredModel) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": m.name,
        "creation_timestamp": m.creation_timestamp,
        "last_updated_timestamp": m.last_updated_timestamp,
        "tags": kv(m.tags),
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(m.aliases.items())],
        "latest_versions": [model_version(v) for v in m.latest_versions],
    }
    if m.description is not None:
        out["description"] = m.description
    return out
