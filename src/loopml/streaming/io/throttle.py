"""Throttling and backpressure between a source's reader and the rule engine.

- :class:`TokenBucket`: a per-source rate limit in events/s with a burst allowance (the
  classic token bucket: tokens refill at ``rate`` per second up to ``burst``; taking ``n``
  waits until ``n`` are there). Throttling holds events in the broker, where they show as
  lag; nothing is dropped.
- :class:`InFlight`: a bounded queue of read-but-not-acked batches between the reader
  thread and the engine, with an overflow policy when it is full:

  - ``block``: the reader waits for room before it reads (backpressure: the broker keeps
    the events and lag grows; the next read then takes a larger batch, which keeps latency
    low when the engine is the bottleneck);
  - ``shed_oldest``: the oldest queued batch is dropped (acked without processing) to make
    room for the new one, so the engine works on fresh data;
  - ``sample``: of the batches arriving while the queue is full, 1 in ``sample_every`` is
    kept (replacing the oldest) and the others are dropped.

  Dropped batches are acked (they must not come back) and counted by the caller's
  ``on_drop(batch, reason)``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, Literal, TypeVar

T = TypeVar("T")
Overflow = Literal["block", "shed_oldest", "sample"]
OVERFLOW = ("block", "shed_oldest", "sample")


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` (default: one second's worth)."""

    def __init__(self, rate: float, burst: float | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError(f"a rate limit must be > 0 events/s, got {rate}")
        self.rate, self.burst = float(rate), float(burst if burst is not None else rate)
        self.clock, self.sleep = clock, sleep
        self.tokens, self.t = self.burst, clock()
        self.waited_s = 0.0

    def take(self, n: float) -> float:
        """Wait until ``n`` tokens are there and take them; the seconds waited. ``n`` above
        the burst is allowed (the bucket goes negative), so a large batch is never stuck."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
        self.t = now
        self.tokens -= n
        if self.tokens >= 0:
            return 0.0
        wait = -self.tokens / self.rate
        self.sleep(wait)
        self.waited_s += wait
        return wait


class InFlight(Generic[T]):
    """At most ``limit`` items queued; ``put`` applies ``policy`` when full."""

    def __init__(self, limit: int, policy: Overflow = "block", sample_every: int = 10,
                 on_drop: Callable[[T, str], None] = lambda _b, _r: None) -> None:
        if limit < 1:
            raise ValueError("max_in_flight must be >= 1")
        self.limit, self.policy, self.sample_every, self.on_drop = limit, policy, max(1, sample_every), on_drop
        self._q: deque[T] = deque()
        self._cv = threading.Condition()
        self._overflowed = 0
        self.closed = False

    def put(self, item: T, timeout_s: float | None = None) -> bool:
        """Queue ``item``; False when ``block`` timed out or the queue was closed."""
        dropped: list[tuple[T, str]] = []
        with self._cv:
            if len(self._q) >= self.limit:
                if self.policy == "block":
                    if not self._cv.wait_for(lambda: len(self._q) < self.limit or self.closed, timeout_s):
                        return False
                elif self.policy == "shed_oldest":
                    dropped.append((self._q.popleft(), "shed_oldest"))
                else:  # sample
                    self._overflowed += 1
                    if self._overflowed % self.sample_every:
                        dropped.append((item, "sample"))
                        item = None  # type: ignore[assignment]
                    else:
                        dropped.append((self._q.popleft(), "sample"))
            if self.closed:
                return False
            if item is not None:
                self._q.append(item)
                self._cv.notify_all()
        for b, why in dropped:
            self.on_drop(b, why)
        return True

    def wait_room(self, timeout_s: float) -> bool:
        """Wait until an item would fit; False on timeout or when closed."""
        with self._cv:
            return self._cv.wait_for(lambda: len(self._q) < self.limit or self.closed, timeout_s) and not self.closed

    def get(self, timeout_s: float) -> T | None:
        with self._cv:
            if not self._cv.wait_for(lambda: bool(self._q) or self.closed, timeout_s):
                return None
            if not self._q:
                return None
            item = self._q.popleft()
            self._cv.notify_all()
            return item

    def __len__(self) -> int:
        return len(self._q)

    def close(self) -> None:
        with self._cv:
            self.closed = True
            self._cv.notify_all()


__all__ = ["OVERFLOW", "InFlight", "Overflow", "TokenBucket"]
