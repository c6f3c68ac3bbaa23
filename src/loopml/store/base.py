"""The metadata store interface for tracking.

Backends: ``sql.py`` (SQLite, PostgreSQL) and ``rest.py`` (a loopml or MLflow-compatible
server). Every backend must pass ``loopml.testing.store_contract``.

Contract, in short:
- ids are strings; experiment ids are decimal integers as strings (MLflow's convention, the
  default experiment is ``"0"``), run ids are 32 lowercase hex characters.
- times are integer milliseconds since the epoch.
- a missing entity raises ``ResourceDoesNotExist``; a bad argument raises
  ``InvalidParameterValue`` with the message template of ``loopml.errors.invalid_param``;
  writing to a deleted run or a terminated-and-deleted experiment raises ``InvalidState``.
- params are write-once: logging the same key again with another value raises
  ``InvalidParameterValue`` (MLflow's rule); the same value again is a no-op.
- metric values round-trip bit-exactly, NaN, +Inf, -Inf and -0.0 included.
- ``log_batch`` is atomic: all of it is stored, or none of it.
- every state change that other components react to appends an ``Event`` in the same
  transaction (outbox); see ``read_events``.

Conveniences (``log_metric``, ``log_param``, ``set_tag``) are written once here on top of
``log_batch``; backends may override them for speed.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from loopml.entities import (
    DatasetInput,
    Event,
    Experiment,
    LoggedModel,
    LoggedModelOutput,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunTag,
    ViewType,
)

SEARCH_MAX_RESULTS_DEFAULT = 1000
SEARCH_MAX_RESULTS_LIMIT = 50000
DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"


class TrackingStore(abc.ABC):
    # ---- experiments -------------------------------------------------------------------
    @abc.abstractmethod
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: dict[str, str] | None = None,
        workspace: str | None = None,
    ) -> str:
        """Create an experiment in ``workspace`` (None: the current one, see
        ``loopml.security.workspaces.current_workspace``) and return its id. Name must be
        unique among all (even deleted) experiments of every workspace: a duplicate raises
        ResourceAlreadyExists."""

    @abc.abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment: ...

    @abc.abstractmethod
    def get_experiment_by_name(self, name: str) -> Experiment | None: ...

    @abc.abstractmethod
    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]: ...

    @abc.abstractmethod
    def rename_experiment(self, experiment_id: str, new_name: str) -> None: ...

    @abc.abstractmethod
    def delete_experiment(self, experiment_id: str) -> None:
        """Soft delete; its runs become deleted too (MLflow semantics)."""

    @abc.abstractmethod
    def restore_experiment(self, experiment_id: str) -> None: ...

    @abc.abstractmethod
    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None: ...

    @abc.abstractmethod
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None: ...

    # ---- runs ----------------------------------------------------------------------------
    @abc.abstractmethod
    def create_run(
        self,
        experiment_id: str,
        user_id: str = "",
        start_time: int | None = None,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
    ) -> Run:
        """A missing run_name gets a generated one and the ``mlflow.runName`` tag mirrors it.
        A ``mlflow.parentRunId`` tag makes a child run."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run: ...

    @abc.abstractmethod
    def update_run_info(
        self,
        run_id: str,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo: ...

    @abc.abstractmethod
    def delete_run(self, run_id: str) -> None: ...

    @abc.abstractmethod
    def restore_run(self, run_id: str) -> None: ...

    @abc.abstractmethod
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Atomic. Limits (MLflow's): 1000 metrics, 100 params, 100 tags per call."""

    def log_metric(self, run_id: str, metric: Metric) -> None:
        self.log_batch(run_id, metrics=[metric])

    def log_param(self, run_id: str, param: Param) -> None:
        self.log_batch(run_id, params=[param])

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        self.log_batch(run_id, tags=[tag])

    @abc.abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None: ...

    @abc.abstractmethod
    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        """All points of one metric, ordered by (step, timestamp)."""

    @abc.abstractmethod
    def get_metric_history_bulk_interval(
        self,
        run_ids: Sequence[str],
        metric_key: str,
        max_results: int,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> list[Metric]:
        """Points of one metric for several runs (each ``Metric.run_id`` set), at most
        ``max_results`` per run, sampled evenly over steps (min and max step always kept)."""

    @abc.abstractmethod
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        """MLflow's filter grammar plus OR and parentheses. Default order: start_time DESC,
        then run_id."""

    @abc.abstractmethod
    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] = (),
        model_ids: Sequence[str] = (),
    ) -> None: ...

    @abc.abstractmethod
    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None: ...

    # ---- garbage collection ------------------------------------------------------------
    @abc.abstractmethod
    def list_deleted_run_ids(self, older_than_ms: int | None = None) -> list[str]:
        """Runs in the deleted stage (soft-deleted before now - older_than_ms, if given)."""

    @abc.abstractmethod
    def permanently_delete_run(self, run_id: str) -> str:
        """Remove a deleted run and all its rows; return its artifact URI so the caller can
        delete the artifacts. Raises InvalidState if the run is not deleted."""

    # ---- MLflow 3 logged models --------------------------------------------------------
    @abc.abstractmethod
    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel: ...

    @abc.abstractmethod
    def get_logged_model(self, model_id: str) -> LoggedModel: ...

    @abc.abstractmethod
    def finalize_logged_model(self, model_id: str, status: str) -> LoggedModel: ...

    @abc.abstractmethod
    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None: ...

    @abc.abstractmethod
    def delete_logged_model_tag(self, model_id: str, key: str) -> None: ...

    @abc.abstractmethod
    def delete_logged_model(self, model_id: str) -> None: ...

    @abc.abstractmethod
    def log_logged_model_params(self, model_id: str, params: dict[str, str]) -> None:
        """Params are write-once, as for runs."""

    @abc.abstractmethod
    def log_logged_model_metrics(self, model_id: str, run_id: str, metrics: Sequence[Metric],
                                 dataset_name: str | None = None,
                                 dataset_digest: str | None = None) -> None:
        """Record ``metrics`` (already logged to run ``run_id``) as logged model
        ``model_id``'s too, as MLflow 3 does for a metric logged with a ``model_id``. Idempotent.
        Raises ResourceDoesNotExist for an unknown model."""

    @abc.abstractmethod
    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[dict[str, Any]] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]: ...

    # ---- events (outbox) -----------------------------------------------------------------
    @abc.abstractmethod
    def append_event(
        self, type: str, subject: str, payload: dict[str, Any] | None = None,
        workspace: str = "default",
    ) -> int:
        """Append one event in its own transaction; return its seq."""

    @abc.abstractmethod
    def read_events(
        self, after_seq: int = 0, types: Sequence[str] | None = None, limit: int = 1000
    ) -> list[Event]:
        """Events with seq > after_seq in seq order. Consumers store the last seq handled."""

    def close(self) -> None:  # noqa: B027 - optional hook, default does nothing
        """Release connections and background threads."""
