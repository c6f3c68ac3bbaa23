"""One trial, where the executor runs it: the objective gets a ``Trial`` (its parameters, a
tracked run, and Optuna's report/should_prune), and the outcome comes back as data."""

from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass
from typing import Any

import optuna

COMPLETE, PRUNED, FAIL = "COMPLETE", "PRUNED", "FAIL"


@dataclass
class TrialTask:
    objective: Any
    number: int
    trial_id: int
    params: dict[str, Any]
    run_id: str
    metric: str
    tracking_uri: str
    proxy_root: str | None = None
    timeout: float | None = None
    study_name: str = ""
    storage: Any = None  # picklable Optuna storage (other processes) ...
    optuna_trial: Any = None  # ... or the live trial (in-process)
    client: Any = None  # in-process only
    fluent: bool = True  # make the trial's run the active run for loopml.log_* calls


@dataclass
class TrialOutcome:
    number: int
    state: str
    value: float | None = None
    error: str | None = None
    duration_s: float = 0.0
    last_step: int | None = None


class Trial:
    """What the objective receives. ``trial["lr"]`` or ``trial.params``; ``report`` records
    an intermediate value (a metric at that step, and Optuna's pruning input);
    ``should_prune`` asks the pruner; ``log_model`` stores a model in the trial's run so
    ``TuneResult.register_best`` can register the winner."""

    def __init__(self, task: TrialTask, client: Any, optuna_trial: Any) -> None:
        self.number = task.number
        self.params = dict(task.params)
        self.run_id = task.run_id
        self._task = task
        self._client = client
        self._ot = optuna_trial
        self.last_step: int | None = None

    def __getitem__(self, name: str) -> Any:
        return self.params[name]

    def report(self, value: float, step: int) -> None:
        self._ot.report(float(value), int(step))
        self._client.log_metric(self.run_id, self._task.metric, float(value), int(step))
        self.last_step = int(step)

    def should_prune(self) -> bool:
        return bool(self._ot.should_prune())

    def log_metric(self, key: str, value: float, step: int = 0) -> None:
        self._client.log_metric(self.run_id, key, float(value), step)

    def log_model(self, model: Any, name: str = "model", **kwargs: Any) -> Any:
        from loopml.models._log import log_model

        return log_model(model, name, run_id=self.run_id, client=self._client, **kwargs)


def run_trial(task: TrialTask) -> TrialOutcome:
    from loopml.pipelines._task import StepTimeout, _deadline, worker_client
    from loopml.tracking._fluent import step_scope

    t0 = time.perf_counter()
    client = worker_client(task.client, task.tracking_uri, task.proxy_root)
    ot = task.optuna_trial
    if ot is None:
        study = optuna.load_study(study_name=task.study_name, storage=task.storage)
        ot = optuna.trial.Trial(study, task.trial_id)
    trial = Trial(task, client, ot)
    out = TrialOutcome(task.number, FAIL)
    try:
        if task.fluent:
            with step_scope(client, lambda: client.store.get_run(task.run_id), end_runs=False) \
                    as _, _deadline(task.timeout):
                value = task.objective(trial)
        else:
            with _deadline(task.timeout):
                value = task.objective(trial)
        if isinstance(value, bool) or not isinstance(value, int | float):
            out.error = (f"The objective returned {type(value).__name__}; return a number "
                         "(the value to minimise or maximise).")
        elif math.isnan(value):
            out.error = "The objective returned NaN."
        else:
            out.state, out.value = COMPLETE, float(value)
    except optuna.TrialPruned:
        out.state = PRUNED
    except StepTimeout as e:
        out.error = f"Trial {task.number} {e}"
    except Exception as e:  # noqa: BLE001 - a failed trial is data; the study goes on
        out.error = "".join(traceback.format_exception(e)).strip()
    client.flush(task.run_id)
    out.last_step = trial.last_step
    out.duration_s = time.perf_counter() - t0
    return out
