"""Run monitors on a schedule inside ``loopml server`` (``--monitors specs.yaml``).

One daemon thread in the server's main process computes, each pass, whatever windows have
closed since the last one (alert state and read cursors are in the store, so a restart
continues where the last process stopped); a failing monitor is logged and retried next
pass, never stopping the others. Webhook deliveries run on their own threads, one event
consumer per monitor with webhooks, so a slow receiver never delays a monitor.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from loopml._poller import Poller
from loopml.monitoring.alerts import AlertEngine
from loopml.monitoring.monitor import MonitorSpec, alert_engine, run_monitor, webhook_consumer
from loopml.store.monitoring_base import MonitoringStore

log = logging.getLogger("loopml.monitoring")


def load_specs(path: str | Path) -> list[MonitorSpec]:
    """A YAML list of monitor specs (or a mapping with a ``monitors`` list)."""
    raw: Any = yaml.safe_load(Path(path).read_text())
    items = raw.get("monitors", []) if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of monitor specs")
    return [MonitorSpec.from_dict(dict(x)) for x in items]


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
