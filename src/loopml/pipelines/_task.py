"""One attempt at one step, as executors run it: load inputs, call the function under a
timeout with its output captured, store the outputs, report back.

``execute`` never raises for a failing step: it returns the error as text, so results cross
process boundaries (process pool, Ray) without pickling exceptions. It runs wherever the
executor puts it, so everything it needs travels in the ``StepTask``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from loopml.pipelines._dsl import Step
from loopml.pipelines._materialize import load_output, save_output


class StepTimeout(Exception):
    pass


@dataclass
class StepTask:
    run_id: str  # the pipeline run
    node: str
    step: Step
    # argument -> ("value", python value) | ("ref", stored output reference) | ("object", obj)
    inputs: dict[str, tuple[str, Any]]
    artifact_uri: str  # where outputs go: the pipeline's tracking run artifact root
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    timeout: float | None = None
    attempt: int = 1
    proxy_root: str | None = None  # where mlflow-artifacts: URIs live, when run by a server
    # In-process only: the engine's TrackingClient; outputs then also go back as objects.
    client: Any = None
    cache_key: str = ""  # the step's key (code, inputs, parameters): provenance of outputs


@dataclass
class TaskResult:
    node: str
    attempt: int
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[str, Any] | None = None
    tracking_run_id: str | None = None
    log_uri: str | None = None
    error: str | None = None
    start_time: int = 0
    end_time: int = 0


_clients: dict[tuple[str, str | None], Any] = {}


def worker_client(given: Any, tracking_uri: str, proxy_root: str | None) -> Any:
    """``given`` in-process; elsewhere a TrackingClient per (tracking URI, proxy root) per
    worker process, reused across tasks so a worker opens its database once."""
    if given is not None:
        return given
    from loopml.tracking._client import TrackingClient

    key = (tracking_uri, proxy_root)
    if key not in _clients:
        _clients[key] = TrackingClient(tracking_uri, proxy_root=proxy_root)
    return _clients[key]


# ---- output capture: per thread, so an in-process step does not swallow the engine's output
class _ThreadRouter(io.TextIOBase):
    def __init__(self, fallback: Any) -> None:
        self.fallback = fallback
        self.local = threading.local()

    def write(self, s: str) -> int:
        buf = getattr(self.local, "buf", None)
        return (buf if buf is not None else self.fallback).write(s)

    def flush(self) -> None:
        if getattr(self.local, "buf", None) is None:
            self.fallback.flush()


class _LogHandler(logging.Handler):
    def __init__(self, router: _ThreadRouter) -> None:
        super().__init__(logging.INFO)
        self.router = router
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        buf = getattr(self.router.local, "buf", None)
        if buf is not None:
            buf.write(self.format(record) + "\n")


_install_lock = threading.Lock()
_router: _ThreadRouter | None = None


def _router_installed() -> _ThreadRouter:
    global _router
    with _install_lock:
        if _router is None or sys.stdout is not _router:
            _router = _ThreadRouter(sys.stdout)
            sys.stdout = _router
            logging.getLogger().addHandler(_LogHandler(_router))
        return _router


@contextlib.contextmanager
def _captured() -> Iterator[io.StringIO]:
    router = _router_installed()
    buf = io.StringIO()
    router.local.buf = buf
    try:
        yield buf
    finally:
        router.local.buf = None


@contextlib.contextmanager
def _deadline(seconds: float | None) -> Iterator[None]:
    """SIGALRM-based timeout where possible (the main thread of a worker process). In other
    threads the engine enforces the deadline from outside instead."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: Any) -> None:
        raise StepTimeout(f"timed out after {seconds:g}s")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _now() -> int:
    return int(time.time() * 1000)


def execute(task: StepTask) -> TaskResult:
    from loopml.tracking._fluent import step_scope

    res = TaskResult(task.node, task.attempt, start_time=_now())
    client = worker_client(task.client, task.tracking_uri, task.proxy_root)
    blobs = client.artifact_store(task.artifact_uri)
    base = f"steps/{task.node}"

    def make_run() -> Any:
        return client.create_run(task.experiment_id, task.node, {
            "mlflow.parentRunId": task.parent_run_id, "loopml.pipeline_run_id": task.run_id,
            "loopml.step": task.node})

    with _captured() as out:
        try:
            kwargs = {}
            for name, (how, v) in task.inputs.items():
                kwargs[name] = load_output(v, client.artifact_store(v["uri"])) \
                    if how == "ref" else v
            with step_scope(client, make_run) as created, _deadline(task.timeout):
                value = _call(task, kwargs)
            res.tracking_run_id = created[0] if created else None
            values = _split(task.step, value)
            for name, obj in values.items():
                if obj is None:
                    continue
                try:
                    res.outputs[name] = save_output(obj, blobs, task.artifact_uri, f"{base}/{name}",
                                                   task.cache_key)
                except TypeError as e:
                    raise TypeError(f"Step {task.node!r} output {name!r} is {e}.") from None
            if task.client is not None:
                res.objects = values
        except StepTimeout as e:
            res.error = f"StepTimeout: step {task.node!r} {e}"
        except BaseException as e:  # noqa: BLE001 - a step's failure is data, reported back
            if isinstance(e, KeyboardInterrupt):
                raise
            res.error = "".join(traceback.format_exception(e)).strip()
            print(res.error, file=out)
    text = out.getvalue()
    if text:
        log_path = f"{base}/logs-{task.attempt}.txt"
        with contextlib.suppress(Exception):
            blobs.put_bytes(log_path, text.encode())
            res.log_uri = f"{task.artifact_uri.rstrip('/')}/{log_path}"
    res.end_time = _now()
    return res


def _call(task: StepTask, kwargs: dict[str, Any]) -> Any:
    """The step's function, or, for a distributed step, its run across Ray Train workers
    (reporting to the step's tracking run, created now)."""
    spec = task.step.distributed
    if spec is None:
        return task.step.fn(**kwargs)
    from loopml.pipelines.distributed import TrainEnv, storage_for
    from loopml.tracking._fluent import _run_id

    env = TrainEnv(f"{task.node}-{task.run_id[:8]}-{task.attempt}", task.tracking_uri,
                   task.proxy_root, _run_id(),
                   storage_for(task.artifact_uri, task.proxy_root, task.node))
    return spec.run(task.step.fn, kwargs, env)


def _split(s: Step, value: Any) -> dict[str, Any]:
    if len(s.outputs) == 1:
        return {s.outputs[0]: value}
    if not isinstance(value, tuple | list) or len(value) != len(s.outputs):
        raise TypeError(
            f"Step {s.name!r} declares outputs {list(s.outputs)} and must return a tuple of "
            f"{len(s.outputs)} values; it returned {type(value).__name__}.")
    return dict(zip(s.outputs, value, strict=True))
