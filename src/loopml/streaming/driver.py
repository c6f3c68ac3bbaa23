"""Adaptive micro-batching in front of a plan: one event at a time when events are sparse
(latency), batches of up to ``max_events`` when they are dense (throughput).

Rule: an event is processed at once when the previous event came more than
``max_delay_ms`` ago (low rate: no other event to wait for); otherwise it is buffered, and
the buffer is flushed when it holds ``max_events`` rows or its oldest row has waited
``max_delay_ms``. The caller's loop calls :meth:`poll` when idle, so a buffered row never
waits longer than ``max_delay_ms`` plus one poll interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from loopml.streaming.plan import Plan


class MicroBatcher:
    """Feeds ``plan``'s ``source`` one row dict at a time; ``on_output`` receives
    ``{stream: pyarrow.Table}`` after each flush that produced rows."""

    def __init__(self, plan: Plan, source: str, on_output: Callable[[dict[str, pa.Table]], Any],
                 max_events: int = 512, max_delay_ms: float = 2.0,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.plan, self.source, self.on_output = plan, source, on_output
        self.max_events, self.max_delay = max_events, max_delay_ms / 1000.0
        self.clock = clock
        self._buf: list[dict[str, Any]] = []
        self._first = 0.0
        self._last_event = float("-inf")
        self.flushes = 0

    def push(self, row: dict[str, Any]) -> None:
        now = self.clock()
        sparse = now - self._last_event > self.max_delay
        self._last_event = now
        if not self._buf:
            self._first = now
        self._buf.append(row)
        if sparse or len(self._buf) >= self.max_events or now - self._first >= self.max_delay:
            self.flush()

    def poll(self) -> None:
        """Flush when the oldest buffered row has waited ``max_delay_ms``."""
        if self._buf and self.clock() - self._first >= self.max_delay:
            self.flush()

    def flush(self) -> None:
        if not self._buf:
            return
        rows, self._buf = self._buf, []
        self.plan.push(self.source, rows)
        self.flushes += 1
        out = self.plan.collect()
        if out:
            self.on_output(out)


__all__ = ["MicroBatcher"]
