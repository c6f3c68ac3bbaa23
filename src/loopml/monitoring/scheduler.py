"""Run monitors on a schedule inside ``loopml server`` (``--monitors specs.yaml``).

One daemon thread in the server's main process (not per worker, so alert state is not
duplicated). Each pass computes whatever windows have closed since the last one; a failing
monitor is logged and retried next pass, never stopping the others.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from loopml._poller import Poller
from loopml.monitoring.alerts import AlertEngine
from loopml.monitoring.monitor import MonitorSpec, alert_engine, run_monitor
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
        super().__init__("monitors")
        self.passes = 0

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
