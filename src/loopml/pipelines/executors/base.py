"""The executor interface: where step attempts (and tuning trials) run.

An executor runs ``fn(arg)`` somewhere and returns a ``concurrent.futures.Future`` of the
result; ``fn`` and ``arg`` travel cloudpickled when that is another process. The pipeline
engine and the tuner own everything else (ordering, retries, timeouts, recording), so an
executor is small. ``max_parallel`` bounds how many calls a caller keeps in flight.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from loopml.pipelines._dsl import Resources
from loopml.pipelines._task import StepTask, TaskResult, execute

T = TypeVar("T")


def invoke_pickled(payload: bytes) -> Any:
    """Worker side of ``submit_fn`` in other processes."""
    import cloudpickle

    fn, arg = cloudpickle.loads(payload)
    return fn(arg)


class Executor(abc.ABC):
    name: str = ""
    max_parallel: int = 1
    # Whether calls run in this process (outputs can be handed on as objects).
    in_process: bool = False

    @abc.abstractmethod
    def submit_fn(self, fn: Callable[[Any], T], arg: Any,
                  resources: Resources | None = None) -> Future[T]:
        """Run ``fn(arg)`` with ``resources`` reserved where the backend places work."""

    def submit(self, task: StepTask) -> Future[TaskResult]:
        return self.submit_fn(execute, task, task.step.resources)

    def cancel(self, future: Future[Any]) -> None:
        """Stop a task that ran past its deadline, where the backend can."""
        future.cancel()

    def reset(self) -> None:
        """Recover after a worker died (a broken pool is rebuilt)."""
        return None

    def shutdown(self) -> None:
        """Release workers; the executor is not used again."""
        return None

    def describe(self) -> str:
        return self.name
