"""Run monitors on a schedule inside ``loopml server`` (``--monitors specs.yaml``).

One daemon thread in the server's main process (not per worker, so alert state is not
duplicated). Each pass computes whatever windows have closed since the last one; a failing
monitor is logged and retried next pass, never stopping the others.
"""

from __future__ import annotations

import logging
from typing import Any

from loopml._poller import Poller
from loopml.monitoring.alerts import AlertEngine
from loopml.monitoring.monitor import MonitorSpec, alert_engine, run_monitor
from loopml.monitoring.spec import load_specs
from loopml.store.monitoring_base import MonitoringStore

log = logging.getLogger("loopml.monitoring")
__all__ = ["MonitorScheduler", "load_specs"]


class MonitorScheduler(Poller):
    def __init__(self, specs: list[MonitorSpec], tracking: Any, store: MonitoringStore,
                 interval_s: float = 60.0) -> None:
        self.specs = specs
        self.store = store
        self.interval_s = interval_s
        self.engines: dict[str, AlertEngine] = {s.name: alert_engine(s, tracking) for s in specs}
        super().__init__("monitors")
        self.passes = 0

    def run_once(self) -> int:
        new = 0
        for spec in self.specs:
            try:
                new += len(run_monitor(spec, self.store, self.engines[spec.name]))
            except Exception:
                log.exception("monitor %s failed; retrying next pass", spec.name)
        self.passes += 1
        return new
