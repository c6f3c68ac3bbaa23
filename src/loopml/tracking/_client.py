"""``TrackingClient``: explicit (MlflowClient-like) access to runs and artifacts, on any
TrackingStore, embedded or remote."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loopml.artifacts import BlobStore, get_blob_store
from loopml.entities import Experiment, Metric, PagedList, Param, Run, RunTag, ViewType
from loopml.store import get_store
from loopml.store.base import TrackingStore
from loopml.tracking._buffer import MetricBuffer

PROXY_SCHEME = "mlflow-artifacts:"


def _now() -> int:
    return int(time.time() * 1000)


def _local_proxy_root(tracking_uri: str | None) -> str:
    """Where a server on this local store keeps ``mlflow-artifacts:`` files:
    LOOPML_ARTIFACTS_DESTINATION, else ``artifacts/`` beside a SQLite database when it
    exists, else LOOPML_HOME/artifacts (the server's default)."""
    from loopml.config import default_artifact_root

    if os.environ.get("LOOPML_ARTIFACTS_DESTINATION"):
        return os.environ["LOOPML_ARTIFACTS_DESTINATION"]
    if tracking_uri and tracking_uri.startswith("sqlite:///"):
        beside = Path(tracking_uri[len("sqlite:///"):]).parent / "artifacts"
        if beside.is_dir():
            return str(beside)
    return default_artifact_root()


class TrackingClient:
    def __init__(self, tracking_uri: str | None = None, store: TrackingStore | None = None,
                 proxy_root: str | None = None) -> None:
        if tracking_uri is None and store is None:
            from loopml.config import load_settings

            tracking_uri = load_settings().tracking_uri  # LOOPML_TRACKING_URI or the file
        self.tracking_uri = tracking_uri
        self.store = store or get_store(tracking_uri)
        # Inside a server (or its pipeline workers) mlflow-artifacts: URIs are read from this
        # root directly instead of through HTTP.
        self.proxy_root = proxy_root
        self._buffer: MetricBuffer | None = None

    @property
    def is_remote(self) -> bool:
        return bool(self.tracking_uri and self.tracking_uri.startswith(("http://", "https://")))

    @property
    def buffer(self) -> MetricBuffer:
        if self._buffer is None:
            self._buffer = MetricBuffer(lambda rid, ms: self.store.log_batch(rid, metrics=ms))
        return self._buffer

    # ---- experiments and runs -------------------------------------------------------------
    def get_or_create_experiment(self, name: str) -> Experiment:
        exp = self.store.get_experiment_by_name(name)
        if exp is None:
            import contextlib

            from loopml.errors import ResourceAlreadyExists

            # Another process may create it between our read and our write: that is fine.
            with contextlib.suppress(ResourceAlreadyExists):
                self.store.create_experiment(name)
            exp = self.store.get_experiment_by_name(name)
            assert exp is not None
        return exp

    def create_run(self, experiment_id: str, run_name: str | None = None,
                   tags: dict[str, str] | None = None) -> Run:
        return self.store.create_run(
            experiment_id, user_id=os.environ.get("USER", ""), start_time=_now(),
            tags=[RunTag(k, v) for k, v in (tags or {}).items()], run_name=run_name,
        )

    def get_run(self, run_id: str) -> Run:
        self.flush(run_id)
        return self.store.get_run(run_id)

    def terminate(self, run_id: str, status: str = "FINISHED") -> None:
        self.flush(run_id)
        self.store.update_run_info(run_id, status=status, end_time=_now())

    def delete_run(self, run_id: str) -> None:
        """Mark the run deleted (restorable until ``loopml gc`` purges it)."""
        self.flush(run_id)
        self.store.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        """Undo ``delete_run``; ResourceDoesNotExist when the run was purged or never was."""
        self.store.restore_run(run_id)

    def delete_experiment(self, experiment_id: str) -> None:
        """Mark the experiment (and, for search, its runs) deleted; restorable."""
        self.store.delete_experiment(experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        """Undo ``delete_experiment``."""
        self.store.restore_experiment(experiment_id)

    def log_metric(self, run_id: str, key: str, value: float, step: int = 0,
                   timestamp: int | None = None, synchronous: bool = False) -> None:
        m = Metric(key, float(value), timestamp if timestamp is not None else _now(), step)
        if synchronous:
            self.store.log_metric(run_id, m)
        else:
            self.buffer.add(run_id, m)

    def log_param(self, run_id: str, key: str, value: object) -> None:
        self.store.log_param(run_id, Param(key, str(value)))

    def log_params(self, run_id: str, params: Mapping[str, object]) -> None:
        items = [Param(k, str(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.store.log_batch(run_id, params=items[i : i + 100])

    def set_tag(self, run_id: str, key: str, value: object) -> None:
        self.store.set_tag(run_id, RunTag(key, str(value)))

    def flush(self, run_id: str | None = None) -> None:
        if self._buffer is not None:
            self._buffer.flush(run_id)

    def search_runs(self, experiment_ids: Sequence[str], filter_string: str | None = None,
                    order_by: Sequence[str] | None = None, max_results: int = 1000,
                    view: ViewType = ViewType.ACTIVE_ONLY) -> PagedList[Run]:
        self.flush()
        return self.store.search_runs(experiment_ids, filter_string, view, max_results, order_by)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        self.flush(run_id)
        return self.store.get_metric_history(run_id, key).items

    # ---- artifacts -------------------------------------------------------------------------
    def artifact_store(self, artifact_uri: str) -> BlobStore:
        """The blob store rooted at a run's (or model's) artifact URI."""
        if artifact_uri.startswith(PROXY_SCHEME) and self.proxy_root:
            rest = artifact_uri[len(PROXY_SCHEME):].strip("/")
            return get_blob_store(f"{self.proxy_root.rstrip('/')}/{rest}" if rest else self.proxy_root)
        if artifact_uri.startswith(PROXY_SCHEME) and not self.is_remote:
            # The local store a server wrote to: its artifacts live where that server keeps
            # them (--artifacts-destination, by default beside the database), so serving and
            # scripts on the same store need no server URL.
            rest = artifact_uri[len(PROXY_SCHEME):].strip("/")
            root = _local_proxy_root(self.tracking_uri)
            return get_blob_store(f"{root.rstrip('/')}/{rest}" if rest else root)
        if artifact_uri.startswith(PROXY_SCHEME):
            from loopml.config import load_settings
            from loopml.tracking._http_artifacts import HttpBlobStore

            token = load_settings().tracking_token or os.environ.get("MLFLOW_TRACKING_TOKEN")
            assert self.tracking_uri is not None
            return HttpBlobStore(self.tracking_uri, artifact_uri[len(PROXY_SCHEME):].lstrip("/"), token)
        return get_blob_store(artifact_uri)

    def log_artifact(self, run_id: str, local_path: str | Path, artifact_path: str | None = None) -> None:
        run = self.store.get_run(run_id)
        blobs = self.artifact_store(run.info.artifact_uri)
        p = Path(local_path)
        dest = f"{artifact_path.strip('/')}/{p.name}" if artifact_path else p.name
        blobs.put_file(dest, p)

    def log_artifacts(self, run_id: str, local_dir: str | Path, artifact_path: str | None = None) -> None:
        run = self.store.get_run(run_id)
        self.artifact_store(run.info.artifact_uri).put_dir(artifact_path or "", local_dir)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """Store ``text`` at the run-relative ``artifact_file`` (MlflowClient.log_text)."""
        from loopml.tracking import _log_objects

        _log_objects.log_text(self, run_id, text, artifact_file)

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        """Store ``dictionary`` as JSON, or YAML for .yml/.yaml (MlflowClient.log_dict)."""
        from loopml.tracking import _log_objects

        _log_objects.log_dict(self, run_id, dictionary, artifact_file)

    def log_figure(self, run_id: str, figure: Any, artifact_file: str, *,
                   save_kwargs: dict[str, Any] | None = None) -> None:
        """Store a matplotlib/plotly figure at ``artifact_file`` (MlflowClient.log_figure)."""
        from loopml.tracking import _log_objects

        _log_objects.log_figure(self, run_id, figure, artifact_file, save_kwargs)

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """Store (or append to) a table artifact in MLflow's JSON format (MlflowClient.log_table)."""
        from loopml.tracking import _log_objects

        _log_objects.log_table(self, run_id, data, artifact_file)

    def list_artifacts(self, run_id: str, path: str = "") -> list[str]:
        run = self.store.get_run(run_id)
        return [f.path for f in self.artifact_store(run.info.artifact_uri).list(path)]

    def download_artifacts(self, run_id: str, path: str, dst: str | Path) -> Path:
        run = self.store.get_run(run_id)
        return self.artifact_store(run.info.artifact_uri).get_dir(path, dst)
