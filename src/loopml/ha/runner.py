"""``LeaderRunner``: run the control plane's background work only while this replica leads.

One daemon thread loops: as a follower it asks the elector every ``poll_s`` seconds; once
elected it calls ``start_work(epoch)``, which builds fresh workers (pollers: the scheduler,
monitors, triggers, the loop controller) on stores fenced with that epoch, and then checks
every ``renew_s`` seconds that it still leads. When the check fails (the database session is
gone, or the lease moved on) it steps down: every worker is stopped before the thread asks
to lead again. Transitions are logged on ``loopml.ha`` and counted in ``state``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from loopml.ha.election import Elector

log = logging.getLogger("loopml.ha")


class Worker(Protocol):
    def stop(self) -> None: ...


class LeaderRunner:
    def __init__(self, elector: Elector, start_work: Callable[[int], Sequence[Worker]],
                 poll_s: float = 2.0, renew_s: float = 1.0) -> None:
        self.elector = elector
        self.start_work = start_work
        self.poll_s = poll_s
        self.renew_s = renew_s
        self.epoch: int | None = None  # set while leading
        self.terms = 0  # how many times this replica was elected
        self._workers: list[Worker] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="leader-election", daemon=True)

    @property
    def leading(self) -> bool:
        return self.epoch is not None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the workers and give the leadership up (shutdown)."""
        self._stop.set()
        self._thread.join(30)
        self._step_down("shutting down")
        self.elector.release()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.epoch is None:
                self._try_lead()
                self._stop.wait(self.renew_s if self.epoch is not None else self.poll_s)
                continue
            try:
                alive = self.elector.renew()
            except Exception:
                log.exception("leader election: renewal failed")
                alive = False
            if not alive:
                self._step_down("lost the database session or the lease")
            self._stop.wait(self.renew_s)

    def _try_lead(self) -> None:
        try:
            epoch = self.elector.try_acquire()
        except Exception:  # e.g. a SQLite file locked for longer than its busy timeout
            log.exception("leader election: could not take the lease; retrying")
            return
        if epoch is None or self._stop.is_set():
            return
        self.epoch, self.terms = epoch, self.terms + 1
        log.warning("leader election: replica %s leads the control plane (epoch %d); "
                    "starting the scheduler, monitors, triggers and loop controller",
                    self.elector.holder, epoch)
        try:
            self._workers = list(self.start_work(epoch))
        except Exception:
            log.exception("leader election: could not start the background work; stepping "
                          "down")
            self._step_down("background work failed to start")
            self.elector.release()

    def _step_down(self, why: str) -> None:
        if self.epoch is None:
            return
        log.warning("leader election: replica %s steps down (epoch %d): %s; stopping the "
                    "background work", self.elector.holder, self.epoch, why)
        workers, self._workers = self._workers, []
        for w in workers:
            try:
                w.stop()
            except Exception:
                log.exception("leader election: a worker did not stop cleanly")
        self.epoch = None
        log.warning("leader election: replica %s follows", self.elector.holder)


__all__ = ["LeaderRunner", "Worker"]
