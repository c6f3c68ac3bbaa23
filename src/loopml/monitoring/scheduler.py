"""Run monitors on a schedule inside ``loopml server`` (``--monitors specs.yaml``).

One daemon thread in the server's main process computes, each pass, whatever windows have
closed since the last one (alert state and read cursors are in the store, so a restart
continues where the last process stopped); a failing monitor is logged and retried next
pass, never stopping the others. Webhook deliveries run on their own threads, one event
consumer per monitor with webhooks, so a slow receiver never delays a monitor.
"""

from __future__ import annotations

import logging
from typing import Any

from loopml._poller import Poller
from loopml.monitoring.alerts import AlertEngine
from loopml.monitoring.monitor import MonitorSpec, alert_engine, run_monitor, webhook_consumer
from loopml.monitoring.spec import load_specs
from loopml.store.monitoring_base import MonitoringStore

log = logging.getLogger("loopml.monitoring")
__all__ = ["MonitorScheduler", "load_specs"]


class MonitorScheduler(Poller):
    def __init__(self, specs: list[MonitorSpec], tracking: Any, store: MonitoringStore,
                 interval_s: float = 60.0, proxy_root: str | None = None) -> None:
        """``proxy_root``: where the server keeps mlflow-artifacts:/ files (model references
        read training profiles from there)."""
        from loopml.tracking._client import TrackingClient

        self.client = TrackingClient(store=tracking, proxy_root=proxy_root)
        self.specs = specs
        self.store = store
        self.interval_s = interval_s
        self.engines: dict[str, AlertEngine] = {s.name: alert_engine(s, tracking) for s in specs}
        self.webhooks = [c for c in (webhook_consumer(s, tracking) for s in specs) if c]
        super().__init__("monitors")
        self.passes = 0

    def start(self) -> None:
        super().start()
        for c in self.webhooks:
            c.start()

    def stop(self) -> None:
        for c in self.webhooks:
            c.stop()
        super().stop()

    def run_once(self) -> int:
        new = 0
        for spec in self.specs:
            try:
                new += len(run_monitor(spec, self.store, self.engines[spec.name],
                                       client=self.client))
            except Exception:
                log.exception("monitor %s failed; retrying next pass", spec.name)
        self.passes += 1
        return new


__all__ = ["MonitorScheduler", "load_specs"]
