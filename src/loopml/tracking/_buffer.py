"""Background batching of metrics, so ``log_metric`` in a training loop costs a list append,
not a network round trip or a database transaction.

A daemon thread flushes when ``max_items`` metrics are pending or every ``interval`` seconds.
``flush()`` (called by end_run, ``loopml.flush()`` and at interpreter exit) sends everything
pending before it returns. Batches go out in arrival order under one send lock. A batch that
keeps failing after retries is kept in ``error`` and raised by the next call: nothing is
dropped silently.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable

from loopml.entities import Metric
from loopml.errors import LoopmlError

MAX_PER_CALL = 1000  # the store's log_batch limit


class MetricBuffer:
    def __init__(
        self,
        send: Callable[[str, list[Metric]], None],
        max_items: int = 1000,
        interval: float = 1.0,
        retries: int = 3,
    ) -> None:
        self._send = send
        self.max_items = max_items
        self.interval = interval
        self.retries = retries
        self._pending: dict[str, list[Metric]] = {}
        self._count = 0
        self._lock = threading.Condition()
        self._send_lock = threading.Lock()
        self.error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="loopml-metric-flush", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def add(self, run_id: str, metric: Metric) -> None:
        self._raise_error()
        with self._lock:
            self._pending.setdefault(run_id, []).append(metric)
            self._count += 1
            if self._count >= self.max_items:
                self._lock.notify()

    def _raise_error(self) -> None:
        if self.error is not None:
            err, self.error = self.error, None
            raise LoopmlError(f"Logging metrics in the background failed: {err}") from err

    def _take(self, run_id: str | None) -> dict[str, list[Metric]]:
        with self._lock:
            if run_id is None:
                taken, self._pending, self._count = self._pending, {}, 0
            else:
                items = self._pending.pop(run_id, [])
                self._count -= len(items)
                taken = {run_id: items} if items else {}
        return taken

    def _requeue(self, run_id: str, metrics: list[Metric]) -> None:
        with self._lock:
            self._pending[run_id] = metrics + self._pending.get(run_id, [])
            self._count += len(metrics)

    def _deliver(self, batches: dict[str, list[Metric]]) -> None:
        items = list(batches.items())
        for n, (run_id, metrics) in enumerate(items):
            for i in range(0, len(metrics), MAX_PER_CALL):
                chunk = metrics[i : i + MAX_PER_CALL]
                for attempt in range(self.retries + 1):
                    try:
                        self._send(run_id, chunk)
                        break
                    except LoopmlError:
                        raise  # invalid data: retrying cannot help, the caller must see it
                    except Exception:
                        if attempt < self.retries:
                            time.sleep(0.2 * 2**attempt)
                            continue
                        # Transport trouble: keep the unsent points for the next flush.
                        self._requeue(run_id, metrics[i:])
                        for rid, rest in items[n + 1 :]:
                            self._requeue(rid, rest)
                        raise

    def flush(self, run_id: str | None = None) -> None:
        """Send what is pending (for one run, or all) and raise any background failure."""
        with self._send_lock:
            self._deliver(self._take(run_id))
        self._raise_error()

    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                self._lock.wait(self.interval)
            try:
                with self._send_lock:
                    self._deliver(self._take(None))
            except BaseException as e:  # noqa: BLE001 - kept and re-raised on the caller's thread
                self.error = e

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.flush()
        finally:
            with self._lock:
                self._closed = True
                self._lock.notify()
