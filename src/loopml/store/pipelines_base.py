"""The pipeline store: pipeline runs, step runs, the step cache and triggers.

Backends: ``pipelines_sql.py`` (the tracking database, so a run and its events commit
together) and ``pipelines_rest.py`` (a loopml server). Only the process that drives a run
writes to it; step workers report back to that process.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, field
from typing import Any

# Pipeline run statuses. PENDING: recorded (e.g. by a trigger) but not started yet.
PENDING, RUNNING, SUCCEEDED, FAILED = "PENDING", "RUNNING", "SUCCEEDED", "FAILED"
# Step statuses add CACHED (outputs reused) and UPSTREAM_FAILED (a dependency failed).
CACHED, UPSTREAM_FAILED = "CACHED", "UPSTREAM_FAILED"
FINAL_STEP = frozenset({SUCCEEDED, FAILED, CACHED, UPSTREAM_FAILED})
DONE_STEP = frozenset({SUCCEEDED, CACHED})


@dataclass(frozen=True)
class PipelineRun:
    run_id: str
    pipeline: str
    ref: str
    params: dict[str, Any]
    status: str
    executor: str = "inprocess"
    trigger: dict[str, Any] = field(default_factory=dict)
    tracking_run_id: str | None = None
    error: str | None = None
    attempt: int = 1
    creation_time: int = 0
    start_time: int | None = None
    end_time: int | None = None
    # Where it belongs: set by the store (the current workspace, or its trigger's).
    workspace: str = "default"
    # CPU cores and GPUs it asks for (its largest step's ``resources``), counted by the
    # workspace's cpus and gpus quotas while it is PENDING or RUNNING.
    cpus: float = 0.0
    gpus: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StepRun:
    run_id: str
    step: str
    status: str
    attempts: int = 0
    cache_key: str | None = None
    cached_from: str | None = None
    # {name: {"uri", "digest", "kind"}} (artifacts) or {name: {"value"}} (parameters)
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    tracking_run_id: str | None = None
    log_uri: str | None = None
    error: str | None = None
    start_time: int | None = None
    end_time: int | None = None

    @property
    def duration_ms(self) -> int | None:
        if self.start_time is None or self.end_time is None:
            return None
        return self.end_time - self.start_time

    def to_dict(self) -> dict[str, Any]:
        # Shallow (not dataclasses.asdict, which deep-copies): called on every step record.
        return {**vars(self), "duration_ms": self.duration_ms}


@dataclass(frozen=True)
class Trigger:
    name: str
    ref: str
    kind: str  # "cron" | "event"
    spec: dict[str, Any]  # {"cron": "*/5 * * * *"} or {"types": [...], "subject": "glob"}
    params: dict[str, Any] = field(default_factory=dict)
    executor: str = "inprocess"
    marker: int = 0  # next fire time in ms (cron) or last consumed event seq (event)
    enabled: bool = True
    creation_time: int = 0
    # Where it belongs (set by the store: a trigger is created in the current workspace); its
    # runs are recorded and started there. Names are unique per workspace.
    workspace: str = "default"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PipelineStore(abc.ABC):
    # ---- runs ------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_run(self, run: PipelineRun) -> PipelineRun:
        """Insert a run (its ``run_id`` chosen by the caller); appends ``pipeline_run.created``."""

    @abc.abstractmethod
    def update_run(self, run_id: str, **fields: Any) -> PipelineRun:
        """Change params, status, tracking_run_id, error, attempt, start_time or end_time. A final
        status appends ``pipeline_run.finished`` in the same transaction."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> PipelineRun: ...

    @abc.abstractmethod
    def list_runs(self, pipeline: str | None = None, status: str | None = None,
                  limit: int = 100) -> list[PipelineRun]:
        """Newest first."""

    # ---- steps -----------------------------------------------------------------------------
    @abc.abstractmethod
    def put_step(self, step: StepRun) -> None:
        """Insert or replace the record of one step of a run."""

    @abc.abstractmethod
    def get_steps(self, run_id: str) -> list[StepRun]: ...

    # ---- cache -----------------------------------------------------------------------------
    @abc.abstractmethod
    def cache_get(self, key: str) -> tuple[str, dict[str, Any]] | None:
        """(pipeline run id, outputs) stored under ``key``, or None."""

    @abc.abstractmethod
    def cache_put(self, key: str, run_id: str, step: str, outputs: dict[str, Any]) -> None:
        """Store (or replace) the outputs for ``key``."""

    @abc.abstractmethod
    def cache_delete(self, key: str) -> None: ...

    # ---- triggers --------------------------------------------------------------------------
    @abc.abstractmethod
    def create_trigger(self, trigger: Trigger) -> Trigger: ...

    @abc.abstractmethod
    def list_triggers(self) -> list[Trigger]: ...

    @abc.abstractmethod
    def delete_trigger(self, name: str) -> None: ...

    @abc.abstractmethod
    def fire_trigger(self, name: str, expected_marker: int, new_marker: int,
                     run: PipelineRun | None) -> bool:
        """Move the trigger's marker from ``expected_marker`` to ``new_marker`` and record
        ``run`` (PENDING) in one transaction. False, with nothing written, when another
        process moved the marker first."""
