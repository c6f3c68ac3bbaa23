"""Steps as Ray tasks: ``--executor ray`` (a local or already-initialised Ray) or
``ray://host:10001`` / ``host:6379`` (a cluster). A step's resources become the task's
``num_cpus``, ``memory``, ``num_gpus`` and custom ``resources``, so Ray places it on a node
that has them. Ray's own retries are off: the engine retries with backoff, the same way for
every executor, and a worker that dies mid-step comes back as a failed attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from loopml.pipelines._dsl import Resources
from loopml.pipelines.executors.base import Executor

T = TypeVar("T")


def _run_remote(payload: bytes) -> Any:
    from loopml.pipelines.executors.base import invoke_pickled

    return invoke_pickled(payload)


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: str | None = None, max_parallel: int = 64) -> None:
        try:
            import ray
        except ImportError as e:
            raise ImportError(
                "The Ray executor needs Ray: pip install 'loopml[ray]'.") from e
        self.address = address
        self.max_parallel = max_parallel
        if not ray.is_initialized():
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False,
                     include_dashboard=False)
        self._remote = ray.remote(_run_remote)
        self._refs: dict[int, Any] = {}

    def submit_fn(self, fn: Callable[[Any], T], arg: Any,
                  resources: Resources | None = None) -> Future[T]:
        import cloudpickle

        r = resources or Resources()
        opts: dict[str, Any] = {"num_cpus": r.cpus, "num_gpus": r.gpus, "max_retries": 0,
                                "retry_exceptions": False}
        if r.memory:
            opts["memory"] = int(r.memory)
        if r.custom:
            opts["resources"] = dict(r.custom)
        ref = self._remote.options(**opts).remote(cloudpickle.dumps((fn, arg)))
        fut: Future[T] = ref.future()
        self._refs[id(fut)] = ref
        fut.add_done_callback(lambda f: self._refs.pop(id(f), None))
        return fut

    def cancel(self, future: Future[Any]) -> None:
        import ray

        ref = self._refs.pop(id(future), None)
        if ref is not None:
            ray.cancel(ref, force=True)  # kills the worker process running the step

    def describe(self) -> str:
        return f"ray:{self.address or 'local'}"
