"""The executor interface: where step attempts run.

An executor takes a ``StepTask`` and returns a ``concurrent.futures.Future`` of its
``TaskResult``. The engine owns everything else (ordering, retries, timeouts, recording), so
an executor is small. ``max_parallel`` bounds how many tasks the engine keeps in flight.
"""

from __future__ import annotations

import abc
from concurrent.futures import Future

from loopml.pipelines._task import StepTask, TaskResult


class Executor(abc.ABC):
    name: str = ""
    max_parallel: int = 1
    # Whether tasks run in this process (outputs can be handed on as objects).
    in_process: bool = False

    @abc.abstractmethod
    def submit(self, task: StepTask) -> Future[TaskResult]: ...

    def cancel(self, future: Future[TaskResult]) -> None:
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
