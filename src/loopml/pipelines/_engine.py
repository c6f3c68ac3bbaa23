"""Drive a pipeline run: lint, then hand ready steps to the executor in dependency order,
with caching, retries with backoff, per-step deadlines, and failure isolation (a failed step
stops its dependants; independent branches still finish). Every state change is recorded
in the pipeline store; step outputs live under the run's tracking artifacts.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from loopml.errors import InvalidParameterValue, InvalidState
from loopml.pipelines._dsl import OutputRef, ParamRef, Pipeline
from loopml.pipelines._lint import lint
from loopml.pipelines._materialize import load_output, value_digest
from loopml.pipelines._task import StepTask, TaskResult
from loopml.pipelines.executors import Executor, get_executor, parse_spec
from loopml.store import get_pipeline_store
from loopml.store.pipelines_base import (
    CACHED,
    DONE_STEP,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    UPSTREAM_FAILED,
    PipelineRun,
    PipelineStore,
    StepRun,
)
from loopml.tracking._client import TrackingClient

# Extra time a worker gets past a step's timeout to stop itself (SIGALRM) before the engine
# gives up on it from outside.
_GRACE_S = 5.0


def _now() -> int:
    return int(time.time() * 1000)


@dataclass
class PipelineRunResult:
    run: PipelineRun
    steps: dict[str, StepRun]
    client: TrackingClient
    objects: dict[tuple[str, str], Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def status(self) -> str:
        return self.run.status

    @property
    def succeeded(self) -> bool:
        return self.run.status == SUCCEEDED

    def output(self, step: str, name: str = "output") -> Any:
        """A step's output value (loaded from the artifact store unless still in memory)."""
        if (step, name) in self.objects:
            return self.objects[(step, name)]
        s = self.steps.get(step)
        if s is None or name not in s.outputs:
            raise InvalidParameterValue(f"Step {step!r} has no stored output {name!r}.")
        ref = s.outputs[name]
        return load_output(ref, self.client.artifact_store(ref["uri"]))


def _tracking_uri(client: TrackingClient) -> str:
    uri = client.tracking_uri or getattr(client.store, "db_uri", None) or \
        getattr(client.store, "uri", None)
    if not uri:
        raise InvalidState("Cannot tell workers where the tracking store is; pass tracking_uri.")
    return str(uri)


class _Driver:
    def __init__(self, p: Pipeline, rec: PipelineRun, client: TrackingClient,
                 store: PipelineStore, executor: Executor, cache: bool,
                 previous: Mapping[str, StepRun]) -> None:
        self.p, self.rec, self.client, self.store = p, rec, client, store
        self.ex, self.cache = executor, cache
        self.steps: dict[str, StepRun] = {n: s for n, s in previous.items() if s.status in DONE_STEP}
        self.objects: dict[tuple[str, str], Any] = {}
        assert rec.tracking_run_id is not None
        run = client.store.get_run(rec.tracking_run_id)
        self.artifact_uri = run.info.artifact_uri
        self.experiment_id = run.info.experiment_id
        self.tracking_uri = _tracking_uri(client)

    # ---- one step ------------------------------------------------------------------------
    def _inputs(self, node: str) -> tuple[dict[str, tuple[str, Any]], dict[str, Any], str]:
        n = self.p.nodes[node]
        spec: dict[str, tuple[str, Any]] = {}
        record: dict[str, Any] = {}
        h = hashlib.sha256(f"{n.step.code_digest}|{node}".encode())
        for arg in sorted(n.inputs):
            v = n.inputs[arg]
            if isinstance(v, OutputRef):
                ref = self.steps[v.node].outputs.get(v.output)
                if ref is None:  # the upstream step returned None for this output
                    spec[arg] = ("value", None)
                    record[arg] = {"step": v.node, "output": v.output, "value": None}
                    h.update(f"{arg}=none;".encode())
                    continue
                obj_key = (v.node, v.output)
                spec[arg] = ("object", self.objects[obj_key]) if obj_key in self.objects \
                    else ("ref", ref)
                record[arg] = {"step": v.node, "output": v.output, **ref}
                h.update(f"{arg}={ref['digest']};".encode())
            else:
                value = self.rec.params[v.name] if isinstance(v, ParamRef) else v
                # The record, the cache key and the run params keep a ${secret:NAME}
                # reference as written; only the step receives the value.
                spec[arg], record[arg] = ("value", _resolve(value, self.store)), {"value": value}
                h.update(f"{arg}={value_digest(value)};".encode())
        return spec, record, h.hexdigest()

    def _cached(self, node: str, key: str, record: dict[str, Any], now: int) -> bool:
        hit = self.store.cache_get(key)
        if hit is None:
            return False
        src_run, outputs = hit
        for ref in outputs.values():
            if not self.client.artifact_store(ref["uri"]).exists(ref["path"]):
                self.store.cache_delete(key)  # its artifacts were garbage-collected
                return False
        self._record(StepRun(self.rec.run_id, node, CACHED, 0, key, src_run, record, outputs,
                             start_time=now, end_time=_now()))
        return True

    def _task(self, node: str, spec: dict[str, tuple[str, Any]], attempt: int,
              key: str) -> StepTask:
        s = self.p.nodes[node].step
        return StepTask(self.rec.run_id, node, s, spec, self.artifact_uri, self.tracking_uri,
                        self.experiment_id, str(self.rec.tracking_run_id), s.timeout, attempt,
                        proxy_root=self.client.proxy_root,
                        client=self.client if self.ex.in_process else None, cache_key=key)

    def _record(self, s: StepRun) -> None:
        self.steps[s.step] = s
        self.store.put_step(s)

    # ---- the loop ----------------------------------------------------------------------------
    def drive(self) -> bool:
        order = self.p.topological()
        todo = [n for n in order if n not in self.steps]
        inflight: dict[Future[TaskResult], tuple[str, int, float | None]] = {}
        retry_at: dict[str, tuple[float, int]] = {}
        started: dict[str, tuple[int, str, dict[str, Any], dict[str, tuple[str, Any]]]] = {}
        deps = {n: self.p.nodes[n].upstream() for n in order}
        # In-process steps share this process's tracking state: one at a time.
        limit = 1 if self.ex.in_process else self.ex.max_parallel
        while todo or inflight:
            now = time.monotonic()
            busy = {v[0] for v in inflight.values()}
            for node in list(todo):
                if len(inflight) >= limit:
                    break
                if node in busy:
                    continue
                if not all(self.steps.get(d) and self.steps[d].status in DONE_STEP
                           for d in deps[node]):
                    continue
                if node in retry_at:
                    due, attempt = retry_at[node]
                    if due > now:
                        continue
                    del retry_at[node]
                    t0, key, record, spec = started[node]
                else:
                    attempt, t0 = 1, _now()
                    spec, record, key = self._inputs(node)
                    use_cache = self.cache and self.p.nodes[node].step.cache
                    if use_cache and self._cached(node, key, record, t0):
                        todo.remove(node)
                        continue
                    started[node] = (t0, key, record, spec)
                    self._record(StepRun(self.rec.run_id, node, RUNNING, 0, key, None, record,
                                         start_time=t0))
                timeout = self.p.nodes[node].step.timeout
                deadline = now + timeout + (0 if self.ex.in_process else _GRACE_S) \
                    if timeout else None
                inflight[self.ex.submit(self._task(node, spec, attempt, key))] = (node, attempt, deadline)
                busy.add(node)
            if not inflight:
                if retry_at:
                    time.sleep(max(0.0, min(d for d, _ in retry_at.values()) - time.monotonic()))
                    continue
                break  # nothing runnable: the rest waits on failed steps
            waits = [d for _, _, d in inflight.values() if d] + [d for d, _ in retry_at.values()]
            timeout_s = max(0.0, min(waits) - time.monotonic()) if waits else None
            done, _ = wait(list(inflight), timeout=timeout_s, return_when=FIRST_COMPLETED)
            for fut in done:
                node, attempt, _ = inflight.pop(fut)
                res = self._result(fut, node, attempt)
                self._finish(node, attempt, res, started[node], todo, retry_at)
            now = time.monotonic()
            for fut, (node, attempt, deadline) in list(inflight.items()):
                if deadline is not None and now >= deadline:
                    inflight.pop(fut)
                    self.ex.cancel(fut)
                    timeout = self.p.nodes[node].step.timeout
                    res = TaskResult(node, attempt, error=f"StepTimeout: step {node!r} timed out "
                                     f"after {timeout:g}s")
                    self._finish(node, attempt, res, started[node], todo, retry_at)
        return all(self.steps.get(n) and self.steps[n].status in DONE_STEP
                                  for n in order)

    def _result(self, fut: Future[TaskResult], node: str, attempt: int) -> TaskResult:
        try:
            return fut.result()
        except BrokenProcessPool as e:
            self.ex.reset()
            return TaskResult(node, attempt, error=f"Worker process died: {e}")
        except Exception as e:  # Ray's WorkerCrashedError, TaskCancelledError ...
            return TaskResult(node, attempt, error=f"{type(e).__name__}: {e}")

    def _finish(self, node: str, attempt: int, res: TaskResult,
                started: tuple[int, str, dict[str, Any], dict[str, tuple[str, Any]]],
                todo: list[str], retry_at: dict[str, tuple[float, int]]) -> None:
        """Record a finished attempt: success, a retry scheduled, or a failure that stops
        the step's dependants."""
        t0, key, record, _ = started
        s = self.p.nodes[node].step
        base = StepRun(self.rec.run_id, node, RUNNING, attempt, key, None, record,
                       tracking_run_id=res.tracking_run_id, log_uri=res.log_uri,
                       start_time=t0)
        if res.error is None:
            self._record(replace(base, status=SUCCEEDED, outputs=res.outputs, end_time=_now()))
            if res.objects is not None:
                for name, obj in res.objects.items():
                    self.objects[(node, name)] = obj
            if self.cache and s.cache:
                self.store.cache_put(key, self.rec.run_id, node, res.outputs)
            todo.remove(node)
            return
        if attempt <= s.retries:
            delay = s.retry_backoff * (2 ** (attempt - 1))
            retry_at[node] = (time.monotonic() + delay, attempt + 1)
            self._record(replace(base, error=f"attempt {attempt} failed, retrying in "
                                 f"{delay:g}s: {res.error}"))
            return
        self._record(replace(base, status=FAILED, error=res.error, end_time=_now()))
        todo.remove(node)
        for d in sorted(self.p.downstream(node)):
            if d in todo:
                todo.remove(d)
                self._record(StepRun(self.rec.run_id, d, UPSTREAM_FAILED,
                                     error=f"Not run: upstream step {node!r} failed.",
                                     start_time=_now(), end_time=_now()))


def _open(client: TrackingClient | None, tracking_uri: str | None) -> tuple[TrackingClient, PipelineStore]:
    if client is None:
        from loopml.tracking._fluent import client as fluent_client

        client = TrackingClient(tracking_uri) if tracking_uri else fluent_client()
    return client, get_pipeline_store(client.store)


def execute(p: Pipeline, rec: PipelineRun, client: TrackingClient, store: PipelineStore,
            executor: str | Executor | None = None, cache: bool = True,
            previous: Mapping[str, StepRun] | None = None) -> PipelineRunResult:
    """Run (or continue) the recorded run ``rec`` to its end."""
    ex = get_executor(executor or rec.executor)
    if rec.tracking_run_id is None:
        exp = client.get_or_create_experiment(f"pipeline/{p.name}")
        trun = client.create_run(exp.experiment_id, p.name, {
            "loopml.pipeline": p.name, "loopml.pipeline_run_id": rec.run_id})
        params = {k: v if isinstance(v, str) else orjson.dumps(v, default=str).decode()
                  for k, v in rec.params.items()}
        if params:
            client.log_params(trun.info.run_id, params)
        rec = store.update_run(rec.run_id, tracking_run_id=trun.info.run_id)
    else:
        client.store.update_run_info(rec.tracking_run_id, status="RUNNING", end_time=None)
    rec = store.update_run(rec.run_id, status=RUNNING, start_time=rec.start_time or _now(),
                           error=None)
    driver = _Driver(p, rec, client, store, ex, cache, previous or {})
    error = None
    try:
        ok = driver.drive()
    except BaseException as e:
        ok, error = False, f"{type(e).__name__}: {e}"
        raise
    finally:
        if not ok and error is None:
            bad = [n for n, s in driver.steps.items() if s.status == FAILED]
            error = f"Step(s) failed: {', '.join(bad)}." if bad else "Run did not finish."
        status = SUCCEEDED if ok else FAILED
        assert rec.tracking_run_id is not None
        client.terminate(rec.tracking_run_id, "FINISHED" if ok else "FAILED")
        rec = store.update_run(rec.run_id, status=status, end_time=_now(), error=error)
        if not isinstance(executor, Executor):
            ex.shutdown()
    return PipelineRunResult(rec, driver.steps, client, driver.objects)


def _resolve(value: Any, store: Any) -> Any:
    """``value`` with ``${secret:NAME}`` references resolved (the settings' secrets backend;
    the built-in one in ``store``'s database when it is a SQL store; the current
    workspace), for the step that receives it."""
    from loopml.security.secrets import get_secret_backend, has_refs, resolve_refs

    if not has_refs(value):
        return value
    from loopml.security.workspaces import creating_workspace

    backend = get_secret_backend(engine=getattr(store, "engine", None))
    return resolve_refs(value, backend, creating_workspace())


def _new_record(p: Pipeline, params: dict[str, Any], ex: str | Executor | None,
                trigger: dict[str, Any] | None) -> PipelineRun:
    if not isinstance(ex, Executor):
        parse_spec(ex)  # a bad spec is a 400 now, not a failed run later
    ex_name = ex.describe() if isinstance(ex, Executor) else (ex or "inprocess")
    cpus, gpus = requested(p)
    return PipelineRun(uuid.uuid4().hex, p.name, p.ref or "", params, PENDING, ex_name,
                       trigger or {"kind": "manual"}, creation_time=_now(), cpus=cpus,
                       gpus=gpus)


def requested(p: Pipeline) -> tuple[float, float]:
    """(CPU cores, GPUs) a run of ``p`` asks for: its largest step's ``resources`` (what
    the workspace's cpus and gpus quotas count while the run is pending or running)."""
    steps = [n.step.resources for n in p.nodes.values()]
    return (max((r.cpus for r in steps), default=0.0), max((r.gpus for r in steps), default=0.0))


def run(p: Pipeline, params: Mapping[str, Any] | None = None, *,
        executor: str | Executor | None = None, cache: bool = True,
        client: TrackingClient | None = None, tracking_uri: str | None = None,
        trigger: dict[str, Any] | None = None) -> PipelineRunResult:
    """Lint, record and run ``p`` to its end. ``executor``: ``inprocess`` (default),
    ``process[:N]``, ``ray`` or ``ray://host:port``, or an Executor. ``cache=False`` reruns
    every step. A failed run returns with ``status == "FAILED"``; it does not raise."""
    resolved = lint(p, params or {})
    client, store = _open(client, tracking_uri)
    rec = store.create_run(_new_record(p, resolved, executor, trigger))
    return execute(p, rec, client, store, executor, cache)


def resume(run_id: str, *, executor: str | Executor | None = None, cache: bool = True,
           client: TrackingClient | None = None, tracking_uri: str | None = None,
           pipeline: Pipeline | None = None) -> PipelineRunResult:
    """Continue a failed (or interrupted) run from its failed steps: steps that succeeded
    keep their outputs; the rest run again, in the same run."""
    from loopml.pipelines._refs import load_pipeline

    client, store = _open(client, tracking_uri)
    rec = store.get_run(run_id)
    if rec.status == SUCCEEDED:
        raise InvalidState(f"Pipeline run {run_id} succeeded; there is nothing to resume.")
    if pipeline is None:
        if not rec.ref or rec.ref.startswith("__main__:"):
            raise InvalidState(
                f"Pipeline run {run_id} was started from a script ({rec.ref or 'no reference'}); "
                "resume it from Python with resume(run_id, pipeline=...).")
        pipeline = load_pipeline(rec.ref)
    lint(pipeline, rec.params)
    previous = {s.step: s for s in store.get_steps(run_id)}
    rec = store.update_run(run_id, attempt=rec.attempt + 1)
    return execute(pipeline, rec, client, store, executor, cache, previous)


class RunHandle:
    """A run started in the background (``start``): ``run_id`` now, the result later."""

    def __init__(self, run_id: str, thread: threading.Thread, box: dict[str, Any]) -> None:
        self.run_id = run_id
        self._thread = thread
        self._box = box

    def wait(self, timeout: float | None = None) -> PipelineRunResult:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"Pipeline run {self.run_id} is still running.")
        if "error" in self._box:
            raise self._box["error"]
        return self._box["result"]  # type: ignore[no-any-return]


def start(p: Pipeline, params: Mapping[str, Any] | None = None, *,
          executor: str | Executor | None = None, cache: bool = True,
          client: TrackingClient | None = None, trigger: dict[str, Any] | None = None,
          record: PipelineRun | None = None) -> RunHandle:
    """Record the run now and drive it on a background thread (the server uses this)."""
    client, store = _open(client, None)
    if record is None:
        resolved = lint(p, params or {})
        record = store.create_run(_new_record(p, resolved, executor, trigger))
    rec = record
    box: dict[str, Any] = {}

    def go() -> None:
        try:
            box["result"] = execute(p, rec, client, store, executor, cache)
        except BaseException as e:  # noqa: BLE001 - kept for wait()
            box["error"] = e

    th = threading.Thread(target=go, name=f"pipeline-{rec.run_id[:8]}", daemon=True)
    th.start()
    return RunHandle(rec.run_id, th, box)
