"""``tune``: hyperparameter search on Optuna's samplers and pruners, with every trial a
tracked child run, trials in parallel on the pipeline executors, and failures contained.

The study lives in this process (ask/tell): the sampler proposes, executors evaluate, and
results are told back here. Trials in other processes reach the pruner through a shared
Optuna storage (a journal file by default; pass ``storage`` for Redis or a database when
workers are on other machines).
"""

from __future__ import annotations

import itertools
import logging
import math
import tempfile
import time
import typing
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from loopml.entities import Metric, RunTag
from loopml.errors import InvalidParameterValue, InvalidState
from loopml.pipelines.executors import Executor, get_executor, parse_spec
from loopml.tracking._client import TrackingClient
from loopml.tuning._space import grid_of, to_distributions
from loopml.tuning._trial import COMPLETE, FAIL, PRUNED, TrialOutcome, TrialTask, run_trial

_GRACE_S = 5.0
_RUN_STATUS = {COMPLETE: "FINISHED", PRUNED: "KILLED", FAIL: "FAILED"}


@dataclass(frozen=True)
class TrialResult:
    number: int
    params: dict[str, Any]
    state: str  # COMPLETE | PRUNED | FAIL
    value: float | None
    run_id: str
    error: str | None = None
    duration_s: float = 0.0


@dataclass
class TuneResult:
    trials: list[TrialResult]
    direction: str
    parent_run_id: str
    study: optuna.Study
    client: TrackingClient = field(repr=False)

    @property
    def best(self) -> TrialResult:
        done = [t for t in self.trials if t.state == COMPLETE and t.value is not None]
        if not done:
            raise InvalidState("No trial completed; look at the trials' errors.")
        sign = 1.0 if self.direction == "minimize" else -1.0
        return min(done, key=lambda t: (sign * float(t.value or 0.0), t.number))

    @property
    def best_params(self) -> dict[str, Any]:
        return self.best.params

    @property
    def best_value(self) -> float:
        assert self.best.value is not None
        return self.best.value

    @property
    def best_run_id(self) -> str:
        return self.best.run_id

    def register_best(self, name: str, artifact_path: str = "model") -> Any:
        """Register the best trial's model (logged with ``trial.log_model``) as a new version
        of ``name``; returns the ModelVersion."""
        from loopml.models._log import register_model

        run = self.client.get_run(self.best_run_id)
        blobs = self.client.artifact_store(run.info.artifact_uri)
        if not blobs.exists(f"{artifact_path}/MLmodel"):
            raise InvalidState(
                f"Best trial {self.best.number} logged no model at {artifact_path!r}: call "
                "trial.log_model(model) in the objective.")
        return register_model(f"runs:/{self.best_run_id}/{artifact_path}", name,
                              client=self.client)


# Names -> Optuna objects. "grid" is random sampling over an enqueued grid (see tune):
# Optuna's GridSampler stops the study from inside tell(), which only study.optimize allows.
SAMPLERS: dict[str, Callable[[int | None], optuna.samplers.BaseSampler]] = {
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    "cmaes": lambda seed: optuna.samplers.CmaEsSampler(seed=seed),
    "grid": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}
PRUNERS: dict[str, Callable[[], optuna.pruners.BasePruner]] = {
    "asha": optuna.pruners.SuccessiveHalvingPruner,
    "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
}


def _sampler(name: str | optuna.samplers.BaseSampler,
             seed: int | None) -> optuna.samplers.BaseSampler:
    if isinstance(name, optuna.samplers.BaseSampler):
        return name
    if name not in SAMPLERS:
        raise InvalidParameterValue(
            f"Unknown sampler {name!r}; use {', '.join(map(repr, SAMPLERS))} or an Optuna "
            "sampler.")
    return SAMPLERS[name](seed)


def _pruner(name: str | optuna.pruners.BasePruner | None) -> optuna.pruners.BasePruner:
    if isinstance(name, optuna.pruners.BasePruner):
        return name
    if name is None:
        return optuna.pruners.NopPruner()
    if name not in PRUNERS:
        raise InvalidParameterValue(
            f"Unknown pruner {name!r}; use {', '.join(map(repr, PRUNERS))}, None or an Optuna "
            "pruner.")
    return PRUNERS[name]()


def _storage(spec: Any, in_process: bool, tmp: Path) -> Any:
    if spec is not None and not isinstance(spec, str):
        return spec
    if isinstance(spec, str) and spec.startswith("redis://"):
        from optuna.storages.journal import JournalRedisBackend

        return optuna.storages.JournalStorage(JournalRedisBackend(spec))
    if isinstance(spec, str):
        return optuna.storages.RDBStorage(spec)
    if in_process:
        return optuna.storages.InMemoryStorage()
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(tmp / "study.log")))


def _parent_run(client: TrackingClient, experiment: str | None, name: str) -> tuple[str, bool]:
    """The run trials hang under: the caller's (or pipeline step's) run, else a new one."""
    from loopml.tracking import _fluent

    if _fluent.has_run():
        return _fluent.current_run_id(), False
    exp = client.get_or_create_experiment(experiment or "tuning")
    run = client.create_run(exp.experiment_id, name, {"loopml.tuning.study": name})
    return run.info.run_id, True


def tune(
    objective: Callable[[Any], float],
    space: Mapping[str, Any],
    n_trials: int | None = 20,
    *,
    sampler: str | optuna.samplers.BaseSampler = "tpe",
    pruner: str | optuna.pruners.BasePruner | None = None,
    direction: str = "minimize",
    metric: str = "objective",
    parallelism: int = 1,
    executor: str | Executor | None = None,
    timeout: float | None = None,
    seed: int | None = None,
    experiment: str | None = None,
    study_name: str | None = None,
    storage: Any = None,
    client: TrackingClient | None = None,
    progress: bool = False,
) -> TuneResult:
    """Search ``space`` for the parameters that minimise (or maximise) ``objective(trial)``.

    Every trial is a child run (params, intermediate values under ``metric`` by step, the
    final value, a ``loopml.trial.state`` tag; pruned trials end KILLED, failed ones FAILED).
    An objective that raises, returns NaN or a non-number, or runs past ``timeout`` seconds
    fails only its own trial. ``executor``: ``inprocess`` (threads when ``parallelism`` > 1),
    ``process``, ``ray`` or ``ray://host:port``. ``n_trials`` may be None with
    ``sampler="grid"`` to run the whole grid."""
    if direction not in ("minimize", "maximize"):
        raise InvalidParameterValue(f"direction must be 'minimize' or 'maximize', not {direction!r}.")
    if parallelism < 1:
        raise InvalidParameterValue(f"parallelism must be >= 1, got {parallelism}.")
    if timeout is not None and timeout <= 0:
        raise InvalidParameterValue(f"timeout must be > 0 seconds, got {timeout}.")
    if not callable(objective):
        raise InvalidParameterValue("objective must be a function of one argument (the trial).")
    dists = to_distributions(space)
    smp = _sampler(sampler, seed)
    grid = grid_of(dists) if sampler == "grid" else None
    if grid is not None:
        size = math.prod(len(v) for v in grid.values())
        n_trials = size if n_trials is None else min(n_trials, size)
    elif n_trials is None:
        raise InvalidParameterValue("n_trials is required unless sampler='grid'.")
    if n_trials < 1:
        raise InvalidParameterValue(f"n_trials must be >= 1, got {n_trials}.")
    if isinstance(executor, str) or executor is None:
        name, arg = parse_spec(executor)
        if not arg and name in ("inprocess", "process"):
            executor = f"{name}:{parallelism}"
    ex = get_executor(executor)
    if not isinstance(executor, Executor) and ex.name == "ray":
        ex.max_parallel = parallelism
    from loopml.tracking._fluent import client as fluent_client

    client = client or fluent_client()
    study_name = study_name or f"tune-{uuid.uuid4().hex[:8]}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="loopml-tune-") as tmp:
        st = _storage(storage, ex.in_process, Path(tmp))
        study = optuna.create_study(study_name=study_name, storage=st, sampler=smp,
                                    pruner=_pruner(pruner),
                                    direction=typing.cast(Any, direction))
        if grid is not None:
            for combo in itertools.product(*grid.values()):
                study.enqueue_trial(dict(zip(grid, combo, strict=True)))
        parent, own_parent = _parent_run(client, experiment, study_name)
        runner = _Runner(objective, study, dists, client, ex, parent, metric, timeout,
                         st, study_name, parallelism)
        try:
            trials = runner.run(n_trials, progress)
        finally:
            if own_parent:
                client.terminate(parent, "FINISHED")
            if not isinstance(executor, Executor):
                ex.shutdown()
    result = TuneResult(sorted(trials, key=lambda t: t.number), direction, parent, study, client)
    done = [t for t in trials if t.state == COMPLETE]
    if done:
        best = result.best
        client.store.log_batch(parent, metrics=[Metric(f"best_{metric}", float(best.value or 0),
                                                       _now(), 0)],
                               tags=[RunTag("loopml.tuning.best_run_id", best.run_id),
                                     RunTag("loopml.tuning.best_trial", str(best.number))])
    return result


def _now() -> int:
    return int(time.time() * 1000)


class _Runner:
    def __init__(self, objective: Callable[[Any], float], study: optuna.Study,
                 dists: dict[str, Any], client: TrackingClient, ex: Executor, parent: str,
                 metric: str, timeout: float | None, storage: Any, study_name: str,
                 parallelism: int) -> None:
        self.objective, self.study, self.dists = objective, study, dists
        self.client, self.ex, self.parent, self.metric = client, ex, parent, metric
        self.timeout, self.storage, self.study_name = timeout, storage, study_name
        self.parallelism = min(parallelism, ex.max_parallel)
        from loopml.pipelines._engine import _tracking_uri

        self.tracking_uri = _tracking_uri(client)
        self.experiment_id = client.store.get_run(parent).info.experiment_id

    def _launch(self) -> tuple[Future[TrialOutcome], tuple[Any, str, float | None]]:
        ot = self.study.ask(self.dists)
        run = self.client.create_run(self.experiment_id, f"trial-{ot.number}", {
            "mlflow.parentRunId": self.parent, "loopml.trial.number": str(ot.number),
            "loopml.tuning.study": self.study_name})
        rid = run.info.run_id
        self.client.log_params(rid, ot.params)
        local = self.ex.in_process
        task = TrialTask(self.objective, ot.number, ot._trial_id, dict(ot.params), rid,
                         self.metric, self.tracking_uri, self.client.proxy_root, self.timeout,
                         self.study_name, None if local else self.storage,
                         ot if local else None, self.client if local else None,
                         fluent=not local or self.parallelism == 1)
        deadline = time.monotonic() + self.timeout + (0 if local else _GRACE_S) \
            if self.timeout else None
        return self.ex.submit_fn(run_trial, task), (ot, rid, deadline)

    def _finish(self, ot: Any, rid: str, out: TrialOutcome) -> TrialResult:
        if out.state == COMPLETE:
            self.study.tell(ot, out.value)
        elif out.state == PRUNED:
            self.study.tell(ot, state=optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(ot, state=optuna.trial.TrialState.FAIL)
        metrics = [Metric(self.metric, out.value, _now(), out.last_step or 0)] \
            if out.value is not None else []
        tags = [RunTag("loopml.trial.state", out.state)]
        if out.error:
            tags.append(RunTag("loopml.trial.error", out.error[-5000:]))
        self.client.store.log_batch(rid, metrics=metrics, tags=tags)
        self.client.terminate(rid, _RUN_STATUS[out.state])
        return TrialResult(ot.number, dict(ot.params), out.state, out.value, rid, out.error,
                           out.duration_s)

    def run(self, n_trials: int, progress: bool) -> list[TrialResult]:
        results: list[TrialResult] = []
        inflight: dict[Future[TrialOutcome], tuple[Any, str, float | None]] = {}
        launched = 0
        bar = _Progress(n_trials, self.study.direction == optuna.study.StudyDirection.MAXIMIZE) \
            if progress else None
        try:
            while len(results) < n_trials:
                while launched < n_trials and len(inflight) < self.parallelism:
                    fut, meta = self._launch()
                    inflight[fut] = meta
                    launched += 1
                deadlines = [d for _, _, d in inflight.values() if d is not None]
                wait_s = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
                done, _ = wait(list(inflight), timeout=wait_s, return_when=FIRST_COMPLETED)
                for fut in done:
                    ot, rid, _ = inflight.pop(fut)
                    try:
                        out = fut.result()
                    except Exception as e:  # a worker died (process pool, Ray)
                        self.ex.reset()
                        out = TrialOutcome(ot.number, FAIL, error=f"{type(e).__name__}: {e}")
                    results.append(self._finish(ot, rid, out))
                    if bar:
                        bar.advance(results[-1])
                now = time.monotonic()
                for fut, (ot, rid, deadline) in list(inflight.items()):
                    if deadline is not None and now >= deadline:
                        inflight.pop(fut)
                        self.ex.cancel(fut)
                        results.append(self._finish(ot, rid, TrialOutcome(
                            ot.number, FAIL, error=f"Trial {ot.number} timed out after "
                            f"{self.timeout:g}s")))
                        if bar:
                            bar.advance(results[-1])
        finally:
            if bar:
                bar.close()
        return results


class _Progress:
    def __init__(self, total: int, maximize: bool) -> None:
        from rich.progress import Progress

        self.sign = -1.0 if maximize else 1.0
        self.p = Progress(transient=False)
        self.p.start()
        self.task = self.p.add_task("tuning", total=total)
        self.best: float | None = None

    def advance(self, r: TrialResult) -> None:
        if r.value is not None and (self.best is None
                                    or self.sign * r.value < self.sign * self.best):
            self.best = r.value
        self.p.update(self.task, advance=1,
                      description=f"tuning (best {self.best:.4g})" if self.best is not None
                      else "tuning")

    def close(self) -> None:
        self.p.stop()


logging.getLogger("optuna").setLevel(logging.WARNING)
