"""The module-level tracking API re-exported by ``loopml``:

    with loopml.start_run(experiment="churn") as run:
        loopml.log_param("lr", 0.1)
        for step in range(100):
            loopml.log_metric("loss", loss, step=step)   # buffered, flushed in background

Embedded by default (SQLite and a folder under LOOPML_HOME); remote when LOOPML_TRACKING_URI
(or ``set_tracking_uri``) names a loopml server.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from loopml.entities import Experiment, Run
from loopml.errors import InvalidState
from loopml.tracking._client import TrackingClient

_state_lock = threading.Lock()
_tracking_uri: str | None = None
_client: TrackingClient | None = None
_experiment: Experiment | None = None



class _ThreadState(threading.local):
    """Per thread, as in MLflow: the stack of active runs, and inside a pipeline step or a
    tuning trial (which run on threads of their own) the client they log to and the lazy
    run that the first log call creates (so a step that logs nothing costs no run)."""

    def __init__(self) -> None:
        self.active: list[ActiveRun] = []
        self.client: TrackingClient | None = None
        self.lazy_run: Callable[[], Run] | None = None
        self.last_run_id: str | None = None


_tls = _ThreadState()


def set_tracking_uri(uri: str | None) -> None:
    """Use ``uri`` (http(s):// server, sqlite:///file, postgresql://...) from now on."""
    global _tracking_uri, _client, _experiment
    with _state_lock:
        if _client is not None:
            _client.flush()
        _tracking_uri, _client, _experiment = uri, None, None


def get_tracking_uri() -> str | None:
    from loopml.config import load_settings

    return _tracking_uri or load_settings().tracking_uri


def client() -> TrackingClient:
    global _client
    if _tls.client is not None:
        return _tls.client
    with _state_lock:
        if _client is None:
            _client = TrackingClient(get_tracking_uri())
        return _client


def set_experiment(name: str) -> Experiment:
    global _experiment
    _experiment = client().get_or_create_experiment(name)
    return _experiment


class ActiveRun:
    """The context manager ``start_run`` returns: ends the run FINISHED, or FAILED when the
    block raises. ``.info`` and ``.run_id`` mirror MLflow's ActiveRun."""

    def __init__(self, run: Run) -> None:
        self.run = run

    @property
    def info(self) -> Any:
        return self.run.info

    @property
    def run_id(self) -> str:
        return self.run.info.run_id

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        end_run("FAILED" if et else "FINISHED")


def start_run(
    experiment: str | None = None,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
    nested: bool = False,
    run_id: str | None = None,
    experiment_id: str | None = None,
) -> ActiveRun:
    """Start a run in ``experiment`` (a name, created when missing) or ``experiment_id``,
    else the experiment of ``set_experiment``, else Default; use it as a context manager.

    ``run_id`` resumes an existing run instead (as ``mlflow.start_run(run_id=...)``): its
    status goes back to RUNNING, ``tags`` are added, and leaving the block ends it again.
    Raises InvalidState when a run is already active (unless ``nested``) or the run to resume
    is deleted, and ResourceDoesNotExist when ``run_id`` or ``experiment_id`` names nothing."""
    if _tls.active and not nested:
        raise InvalidState(
            f"Run {_tls.active[-1].run_id} is already active. End it with loopml.end_run(), or pass "
            "nested=True to start a child run."
        )
    if run_id is not None:
        active = ActiveRun(_resume(run_id, run_name, tags))
    else:
        active = ActiveRun(_create(experiment, experiment_id, run_name, tags, nested))
    _tls.active.append(active)
    return active


def _create(experiment: str | None, experiment_id: str | None, run_name: str | None,
            tags: dict[str, str] | None, nested: bool) -> Run:
    if experiment:
        exp = set_experiment(experiment)
    elif experiment_id is not None:
        exp = client().store.get_experiment(str(experiment_id))
    else:
        exp = _experiment or client().store.get_experiment("0")
    all_tags = {"mlflow.source.name": Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python",
                "mlflow.user": os.environ.get("USER", "")}
    if nested and (_tls.active or _tls.lazy_run):
        all_tags["mlflow.parentRunId"] = _run_id()
    all_tags.update(tags or {})
    return client().create_run(exp.experiment_id, run_name, all_tags)


def _resume(run_id: str, run_name: str | None, tags: dict[str, str] | None) -> Run:
    from loopml.errors import ResourceDoesNotExist

    c = client()
    try:
        run = c.get_run(run_id)
    except ResourceDoesNotExist as e:
        raise ResourceDoesNotExist(
            f"Cannot resume run {run_id!r}: no such run. Check the id with `loopml runs list`, "
            "or call start_run() without run_id to start a new one.") from e
    if run.info.lifecycle_stage == "deleted":
        raise InvalidState(
            f"Cannot resume run {run_id!r}: it is deleted. Restore it first with "
            f"`loopml runs restore {run_id}` (or TrackingClient().restore_run).")
    c.store.update_run_info(run_id, status="RUNNING", run_name=run_name)
    for k, v in (tags or {}).items():
        c.set_tag(run_id, k, v)
    return c.get_run(run_id)


def active_run() -> ActiveRun | None:
    return _tls.active[-1] if _tls.active else None


def has_run() -> bool:
    """Whether this thread has an active run, or a step/trial run ready to be made."""
    return bool(_tls.active) or _tls.lazy_run is not None


@contextmanager
def using_client(c: TrackingClient) -> Iterator[None]:
    """Make the fluent API (and log_model) use ``c`` on this thread for a while."""
    saved, _tls.client = _tls.client, c
    try:
        yield
    finally:
        _tls.client = saved


def current_run_id() -> str:
    """The active run's id; inside a pipeline step, the step's run (made now if needed)."""
    return _run_id()


@contextmanager
def step_scope(scoped_client: TrackingClient, make_run: Callable[[], Run],
               end_runs: bool = True) -> Iterator[list[str]]:
    """Run a pipeline step's body against ``scoped_client`` with no active run but a lazy
    one: the first log call creates it through ``make_run``. Yields a list that holds the
    created run id afterwards. The caller's active runs are restored on exit; the step's run
    ends FINISHED, or FAILED when the body raised."""
    saved = (_tls.client, _tls.lazy_run, _tls.active)
    _tls.client, _tls.lazy_run, _tls.active = scoped_client, make_run, []
    created: list[str] = []
    failed = False
    try:
        yield created
    except BaseException:
        failed = True
        raise
    finally:
        runs = _tls.active
        _tls.client, _tls.lazy_run, _tls.active = saved
        created.extend(r.run_id for r in runs[:1])
        for r in reversed(runs if end_runs else runs[1:]):
            scoped_client.terminate(r.run_id, "FAILED" if failed else "FINISHED")


def _run_id() -> str:
    if not _tls.active and _tls.lazy_run is not None:
        _tls.active.append(ActiveRun(_tls.lazy_run()))
    if not _tls.active:
        raise InvalidState("No active run. Start one with `with loopml.start_run():`.")
    return _tls.active[-1].run_id


def end_run(status: str = "FINISHED") -> None:
    if not _tls.active:
        return
    run = _tls.active.pop()
    client().terminate(run.run_id, status)
    _tls.last_run_id = run.run_id


def last_active_run() -> Run | None:
    """The active run, else the run this thread ended last (one ``autolog`` started and
    ended, say), read from the store; None when there is neither. As
    ``mlflow.last_active_run``."""
    run_id = _tls.active[-1].run_id if _tls.active else _tls.last_run_id
    return client().get_run(run_id) if run_id else None


def log_param(key: str, value: object) -> None:
    client().log_param(_run_id(), key, value)


def log_params(params: dict[str, object]) -> None:
    client().log_params(_run_id(), params)


def log_metric(key: str, value: float, step: int | None = None, timestamp: int | None = None) -> None:
    client().log_metric(_run_id(), key, value, step or 0, timestamp)


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    c, rid = client(), _run_id()
    for k, v in metrics.items():
        c.log_metric(rid, k, v, step or 0)


def set_tag(key: str, value: object) -> None:
    client().set_tag(_run_id(), key, value)


def set_tags(tags: dict[str, object]) -> None:
    for k, v in tags.items():
        set_tag(k, v)


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> None:
    client().log_artifact(_run_id(), local_path, artifact_path)


def log_artifacts(local_dir: str | Path, artifact_path: str | None = None) -> None:
    client().log_artifacts(_run_id(), local_dir, artifact_path)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    """Log ``text`` as the artifact ``artifact_file`` (e.g. "notes/summary.txt") of the
    active run, or of ``run_id``. Same semantics as ``mlflow.log_text``."""
    client().log_text(run_id or _run_id(), text, artifact_file)


def log_dict(dictionary: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Log a JSON/YAML-serialisable object as ``artifact_file``: YAML for .yml/.yaml, else
    JSON. Same semantics as ``mlflow.log_dict``."""
    client().log_dict(run_id or _run_id(), dictionary, artifact_file)


def log_figure(figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None) -> None:
    """Log a matplotlib (or plotly) figure as ``artifact_file``; the extension (.png, .svg,
    .pdf, .html for plotly) picks the format. Same semantics as ``mlflow.log_figure``."""
    client().log_figure(_run_id(), figure, artifact_file, save_kwargs=save_kwargs)


def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Log a table (a pandas DataFrame or a dict of column lists) as ``artifact_file``
    (.json in MLflow's ``{"columns": [...], "data": [[...]]}`` form, or .parquet), appending
    the rows when the file already exists in the run. Same semantics as ``mlflow.log_table``."""
    client().log_table(run_id or _run_id(), data, artifact_file)


def log_input(data: Any, name: str = "dataset", source: str = "",
              context: str | None = "training") -> str:
    """Record ``data`` (a DataFrame or array) as an input of the active run; returns its
    content digest. Lineage links datasets -> runs -> model versions through this."""
    from loopml.tracking._datasets import dataset_input

    di = dataset_input(data, name, source, context)
    client().store.log_inputs(_run_id(), [di])
    return di.dataset.digest


def flush() -> None:
    """Send every buffered metric now (also done at run end and at interpreter exit)."""
    if _client is not None:
        _client.flush()
