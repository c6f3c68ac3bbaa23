"""The access-anomaly monitor (``_audit_anomaly.AccessMonitor``) on a schedule inside
``loopml server``, like the model monitors: a daemon thread that, each pass, evaluates
every audit window that has closed since the last one it evaluated.

Which windows are done is a cursor in the metadata store (``consumer_cursors``, the same
table the loop controller's event cursor uses), moved by compare-and-set, so a restarted
server continues where the last one stopped and two servers sharing a database evaluate
each window once. Alerts go through the same path as model monitors: alert states in the
monitoring store and ``alert.firing``/``alert.resolved`` events (monitor
``loopml.access``), which webhooks and the loop controller consume.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from loopml._poller import Poller
from loopml.security._audit_anomaly import AccessMonitor
from loopml.security.actor import SERVICE, acting_as, service_actor

log = logging.getLogger("loopml.security")
CURSOR = "audit-monitor"
# A window is evaluated this long after it closes: the API workers' audit queues flush
# every 0.2 s, so records of its last moments are written by then.
SETTLE_MS = 5_000


class AuditMonitorScheduler(Poller):
    """Runs ``monitor`` every ``interval_s`` seconds over closed windows. ``loops``: the
    store holding the cursor (``get_cursor``/``move_cursor``). On its first pass ever it
    evaluates only the newest closed window (no backfill of old history)."""

    def __init__(self, monitor: AccessMonitor, loops: Any, interval_s: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__("audit-monitor")
        self.monitor = monitor
        self.loops = loops
        self.interval_s = interval_s
        self.clock = clock
        self.windows = 0  # windows evaluated by this process (tests read it)

    def due(self) -> list[int]:
        """The ends (ms) of the closed, settled windows not evaluated yet, oldest first."""
        w = self.monitor.window_ms
        last_closed = (int(self.clock() * 1000) - SETTLE_MS) // w * w
        done = self.loops.get_cursor(CURSOR)
        if done == 0:
            return [last_closed]
        return list(range(done + w, last_closed + 1, w))

    def run_once(self) -> int:
        """Evaluate the due windows; returns how many alert transitions they caused."""
        transitions = 0
        with acting_as(service_actor("audit-monitor"), SERVICE):
            try:
                for end in self.due():
                    done = self.loops.get_cursor(CURSOR)
                    if end <= done or not self.loops.move_cursor(CURSOR, done, end):
                        continue  # another server took this window
                    transitions += len(self.monitor.evaluate(end))
                    self.windows += 1
            except Exception:
                log.exception("audit monitor pass failed; retrying next pass")
        return transitions


def start_audit_monitor(services: Any, interval_s: float, window_s: int,
                        baseline_windows: int) -> AuditMonitorScheduler | None:
    """Start the scheduler over a ``loopml.services.ProcessServices`` (None, and nothing
    started, when its store keeps no audit trail: a REST store)."""
    if services.audit is None:
        return None
    monitor = AccessMonitor(services.audit, monitoring_store=services.monitoring,
                            window_s=window_s, baseline_windows=baseline_windows)
    sched = AuditMonitorScheduler(monitor, services.loops, interval_s)
    sched.start()
    return sched


__all__ = ["AuditMonitorScheduler", "CURSOR", "start_audit_monitor"]
