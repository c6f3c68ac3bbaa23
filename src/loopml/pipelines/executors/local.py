"""Local executors: in-process (development, debugging) and a process pool (parallel
branches on one machine)."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

from loopml.pipelines._dsl import Resources
from loopml.pipelines.executors.base import Executor, invoke_pickled

T = TypeVar("T")


class InProcessExecutor(Executor):
    """One step at a time, in this process, on a fresh thread per attempt: outputs pass to
    the next step as objects, and a step that overruns its timeout is abandoned (its thread
    cannot be killed) while the run goes on."""

    name = "inprocess"
    max_parallel = 1
    in_process = True

    def __init__(self, threads: int = 1) -> None:
        self.max_parallel = max(1, threads)

    def submit_fn(self, fn: Callable[[Any], T], arg: Any,
                  resources: Resources | None = None) -> Future[T]:
        fut: Future[T] = Future()
        fut.set_running_or_notify_cancel()

        def work() -> None:
            try:
                fut.set_result(fn(arg))
            except BaseException as e:  # noqa: BLE001 - surfaced through the future
                fut.set_exception(e)

        threading.Thread(target=work, name="loopml-inprocess", daemon=True).start()
        return fut


class ProcessExecutor(Executor):
    """A pool of worker processes (forkserver: forked from a clean server process, so no
    lock held by one of our threads is inherited). Tasks travel cloudpickled. A worker that
    dies breaks the pool; ``reset`` builds a new one and the engine retries the step."""

    name = "process"

    def __init__(self, workers: int | None = None) -> None:
        self.max_parallel = max(1, workers or os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _get(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                ctx = mp.get_context("forkserver")
                ctx.set_forkserver_preload(["loopml.pipelines.executors.base"])
                self._pool = ProcessPoolExecutor(self.max_parallel, mp_context=ctx)
            return self._pool

    def submit_fn(self, fn: Callable[[Any], T], arg: Any,
                  resources: Resources | None = None) -> Future[T]:
        import cloudpickle

        return self._get().submit(invoke_pickled, cloudpickle.dumps((fn, arg)))

    def reset(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def shutdown(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def describe(self) -> str:
        return f"process:{self.max_parallel}"
