"""Adaptive micro-batching: concurrent requests for one model run as one predict call.

One worker task per model. When it is free it takes everything queued (up to
``max_batch_size`` rows). Under load, after a batch of more than one request, it also waits
up to ``max_delay_s`` for more to arrive, but never past the moment the oldest queued request
has waited ``max_delay_s``. A lone request (no load) is dispatched at once, which is what
keeps single-client latency at the cost of one predict.

A batch that fails is re-run request by request, so one bad request fails alone. The queue is
bounded: a full queue raises ``Overloaded`` at once (the server answers 503 + Retry-After),
which keeps memory flat under any load.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from loopml.errors import ServiceUnavailable

Rows: TypeAlias = np.ndarray | pd.DataFrame


class Overloaded(ServiceUnavailable):
    """The model's queue is full (HTTP 503 with Retry-After)."""


Outputs: TypeAlias = tuple[str, ...] | None
Result: TypeAlias = np.ndarray | dict[str, np.ndarray]


@dataclass
class _Item:
    rows: Rows
    n: int
    future: asyncio.Future[Any]
    outputs: Outputs = None  # None: the default output (``predict``), else named outputs
    enqueued: float = field(default_factory=time.perf_counter)


def _split(out: Result, start: int, n: int) -> Result:
    if isinstance(out, dict):
        return {k: v[start:start + n] for k, v in out.items()}
    return out[start:start + n]


def _concat(parts: list[Rows]) -> Rows:
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], pd.DataFrame):
        return pd.concat(parts, ignore_index=True)
    return np.concatenate(parts)  # type: ignore[arg-type]


class Batcher:
    def __init__(self, predict: Callable[[Rows], np.ndarray], max_batch_size: int = 64,
                 max_delay_s: float = 0.002, max_queue: int = 2048, inline: bool = False,
                 on_batch: Callable[[int, float], None] | None = None,
                 predict_outputs: Callable[[Rows, tuple[str, ...]], dict[str, np.ndarray]]
                 | None = None, thread_init: Callable[[], None] | None = None,
                 inline_below_s: float = 0.0) -> None:
        self.predict = predict
        # Named outputs (V2 ``outputs``: predict_proba, ...); only requests asking for the
        # same outputs share a batch.
        self.predict_outputs = predict_outputs
        self.max_batch_size = max_batch_size
        self.max_delay_s = max_delay_s
        self.max_queue = max_queue
        # Inline: run predict on the event loop (ONNX Runtime on small batches takes tens of
        # microseconds, less than a thread hop). Otherwise one worker thread per model.
        self.inline = inline
        self.on_batch = on_batch
        self._queue: deque[_Item] = deque()
        self._wake = asyncio.Event()
        self._executor = None if inline else ThreadPoolExecutor(
            1, thread_name_prefix="predict", initializer=thread_init)
        # A lone request whose predicts recently took less than this runs on the event loop:
        # the hop to the worker thread and back (two wake-ups) costs more than it saves.
        self.inline_below_s = inline_below_s
        self._thread_init = thread_init
        self._recent_s = float("inf")  # latest duration of a one-request predict
        self._quiet = True  # nothing was queued when the previous predict finished
        self._task: asyncio.Task[None] | None = None
        self._last_batch_requests = 0
        self._busy = False  # a batch is being predicted (drain_and_stop waits for it)

    @property
    def depth(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        if self._task is None:
            if self.inline_below_s > 0 and self._thread_init is not None:
                self._thread_init()  # lone predicts may run on this (the loop's) thread too
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            self._task = None
        if self._executor:
            self._executor.shutdown(wait=False)

    async def drain_and_stop(self, timeout_s: float = 30.0) -> None:
        """Stop once every queued and running request has its answer (or after
        ``timeout_s``): the repository API unloads a model this way."""
        deadline = time.perf_counter() + timeout_s
        while (self._queue or self._busy) and time.perf_counter() < deadline:
            await asyncio.sleep(0.005)
        await self.stop()

    async def submit(self, rows: Rows, outputs: Outputs = None) -> Any:
        """The model's answer for ``rows``: an array (default output) or, when ``outputs``
        names outputs, ``{name: array}``. Raises ``Overloaded`` when the queue is full."""
        if len(self._queue) >= self.max_queue:
            raise Overloaded("The model's request queue is full; retry shortly.")
        self.start()
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(rows, len(rows), fut, outputs))
        self._wake.set()
        return await fut

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
            await asyncio.sleep(0)  # let requests that already arrived join this batch
            if self._last_batch_requests > 1 and self.max_delay_s > 0:
                deadline = self._queue[0].enqueued + self.max_delay_s
                while sum(i.n for i in self._queue) < self.max_batch_size:
                    remaining = deadline - time.perf_counter()
                    if remaining <= 0:
                        break
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), remaining)
                    except TimeoutError:
                        break
            batch: list[_Item] = []
            rows = 0
            while self._queue and (not batch or (
                    rows + self._queue[0].n <= self.max_batch_size
                    and self._queue[0].outputs == batch[0].outputs)):
                item = self._queue.popleft()
                batch.append(item)
                rows += item.n
            self._last_batch_requests = len(batch)
            t = time.perf_counter()
            self._busy = True
            # Inline only under light load: one request, nothing else queued, and nothing
            # arrived while the previous predict ran. Under load the thread lets the event
            # loop read and decode the next requests while this predict runs.
            lone = len(batch) == 1 and not self._queue and self._quiet
            try:
                if self.inline or (lone and self._recent_s < self.inline_below_s):
                    self._finish(batch, self._predict_batch(batch))
                else:
                    assert self._executor is not None
                    result = await loop.run_in_executor(self._executor, self._predict_batch,
                                                        batch)
                    self._finish(batch, result)
            finally:
                self._busy = False
            if len(batch) == 1:
                self._recent_s = time.perf_counter() - t
            self._quiet = not self._queue
            if self.on_batch:
                self.on_batch(rows, time.perf_counter() - t)

    def _call(self, rows: Rows, outputs: Outputs) -> Result:
        if outputs is None:
            return np.asarray(self.predict(rows))
        if self.predict_outputs is None:
            raise ValueError("This model offers no named outputs.")
        return self.predict_outputs(rows, outputs)

    def _predict_batch(self, batch: list[_Item]) -> list[Result | BaseException]:
        outputs = batch[0].outputs
        try:
            out = self._call(_concat([i.rows for i in batch]), outputs)
            results: list[Result | BaseException] = []
            start = 0
            for i in batch:
                results.append(_split(out, start, i.n))
                start += i.n
            return results
        except Exception:
            if len(batch) == 1:
                raise_one: list[Result | BaseException] = []
                try:
                    raise_one.append(self._call(batch[0].rows, outputs))
                except Exception as e:
                    raise_one.append(e)
                return raise_one
            # One bad request must not fail the others: run them one by one.
            return [self._predict_batch([i])[0] for i in batch]

    @staticmethod
    def _finish(batch: list[_Item], results: list[Result | BaseException]) -> None:
        for item, res in zip(batch, results, strict=True):
            if item.future.done():
                continue  # the client went away
            if isinstance(res, BaseException):
                item.future.set_exception(res)
            else:
                item.future.set_result(res)
