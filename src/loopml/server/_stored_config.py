"""Run the monitors and loop policies applied to the store (``loopml apply``: documents of
kind Monitor and LoopPolicy in table ``config_objects``) on the leader, following changes.

A server given ``--monitors`` / ``--policies`` files runs those instead (the files win, one
source of truth per server). Each pass compares the stored documents with those running;
on a change it stops the running scheduler/controller and starts new ones, so an apply
takes effect within one pass. A document that does not validate, or a policy whose
pipeline is not registered (``--pipelines``), is logged and skipped; the others run.
"""

from __future__ import annotations

import logging
from typing import Any

from loopml._poller import Poller

log = logging.getLogger("loopml.gitops")


class StoredConfigRunner(Poller):
    def __init__(self, tracking: Any, mon_tracking: Any, work: Any, monitors: bool,
                 policies: bool, interval_s: float = 5.0) -> None:
        super().__init__("stored-config")
        from loopml.store.config_sql import ConfigObjectStore

        self.config = ConfigObjectStore(tracking.engine)
        self.tracking, self.mon_tracking, self.work = tracking, mon_tracking, work
        self.kinds = [k for k, on in (("Monitor", monitors), ("LoopPolicy", policies)) if on]
        self.interval_s = interval_s
        self._seen: Any = None
        self._running: list[Any] = []

    def _specs(self) -> tuple[list[Any], list[Any]]:
        from loopml.automation.policy import Policy
        from loopml.monitoring.spec import MonitorSpec

        monitors, policies = [], []
        for kind in self.kinds:
            for name, _, spec in self.config.list(kind):
                try:
                    if kind == "Monitor":
                        monitors.append(MonitorSpec.from_dict({**spec, "name": name}))
                    else:
                        p = Policy.from_dict({**spec, "name": name})
                        self.work.runnable.check(p.retrain.pipeline, f"Policy {name!r}: pipeline")
                        policies.append(p)
                except Exception as e:
                    log.error("stored %s %r not run: %s", kind, name, getattr(e, "message", e))
        return monitors, policies

    def run_once(self) -> bool:
        """Restart the stored monitors and controller when their documents changed; True
        when it did."""
        seen = [self.config.list(k) for k in self.kinds]
        if seen == self._seen:
            return False
        self._seen = seen
        self._stop_running()
        monitors, policies = self._specs()
        if monitors:
            from loopml.monitoring.scheduler import MonitorScheduler
            from loopml.store import get_monitoring_store

            self._running.append(MonitorScheduler(
                monitors, self.mon_tracking, get_monitoring_store(self.mon_tracking),
                self.work.monitor_interval, proxy_root=self.work.artifacts))
        if policies:
            from loopml.automation import Controller

            self._running.append(Controller(self.tracking, policies,
                                            self.work.controller_interval,
                                            proxy_root=self.work.artifacts,
                                            runnable=self.work.runnable))
        for w in self._running:
            w.start()
        log.warning("running %d stored monitor(s) and %d stored loop polic(ies)",
                    len(monitors), len(policies))
        return True

    def _stop_running(self) -> None:
        running, self._running = self._running, []
        for w in running:
            w.stop()

    def stop(self) -> None:
        if self._thread.ident is not None:  # started
            super().stop()
        self._stop_running()
