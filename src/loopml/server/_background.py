"""The control plane's background work for one leadership term: what ``loopml server``
runs on the elected leader only (loopml.ha).

``BackgroundWork`` holds the checked configuration (monitor specs, loop policies, whether
to run triggers); ``start(epoch)`` builds fresh stores fenced with the term's epoch and
starts the pollers on them; the returned workers stop them (and close those stores) when
the replica steps down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loopml.ha import install_fence


class _Closer:
    """Stops nothing; closes the term's stores once the pollers on them have stopped."""

    def __init__(self, stores: list[Any]) -> None:
        self.stores = stores

    def stop(self) -> None:
        for s in self.stores:
            s.close()


@dataclass
class BackgroundWork:
    backend: str  # the metadata store URI
    artifacts: str  # the server's artifact root (monitors read training profiles there)
    proxy_scheme: str  # the default artifact root of runs started here
    runnable: Any  # PipelineRegistry
    monitor_specs: list[Any] = field(default_factory=list)
    monitor_interval: float = 60.0
    triggers: bool = True
    trigger_interval: float = 5.0
    policies: list[Any] = field(default_factory=list)
    policies_file: Path | None = None
    controller_interval: float = 2.0
    # Run the Monitor / LoopPolicy documents applied to the store (loopml apply) for the
    # kinds not given as files.
    stored_config: bool = True
    # The audit-log access monitor (security/_audit_schedule.py): (interval s, window s,
    # baseline windows), or None when it is off.
    audit: tuple[float, int, int] | None = None

    def _store(self, root: str, epoch: int) -> Any:
        from loopml.store import get_store

        store = get_store(self.backend, root)
        install_fence(store.engine, epoch)  # type: ignore[attr-defined]
        return store

    def start(self, epoch: int) -> list[Any]:
        """Start the term's pollers; returns them (stop order: pollers, then stores)."""
        from loopml.store import get_monitoring_store, get_pipeline_store

        tracking = self._store(self.proxy_scheme, epoch)
        stores: list[Any] = [tracking]
        workers: list[Any] = []
        if self.monitor_specs:
            from loopml.monitoring.scheduler import MonitorScheduler

            mon_tracking = self._store(self.artifacts, epoch)
            stores.append(mon_tracking)
            workers.append(MonitorScheduler(self.monitor_specs, mon_tracking,
                                            get_monitoring_store(mon_tracking),
                                            self.monitor_interval, proxy_root=self.artifacts))
        if self.triggers:
            from loopml.pipelines.triggers import TriggerRunner

            workers.append(TriggerRunner(tracking, get_pipeline_store(tracking), self.runnable,
                                         self.trigger_interval, proxy_root=self.artifacts))
        if self.policies:
            from loopml.automation import Controller

            workers.append(Controller(tracking, self.policies, self.controller_interval,
                                      proxy_root=self.artifacts, runnable=self.runnable,
                                      policies_file=self.policies_file))
        stored = (not self.monitor_specs, not self.policies)
        if self.stored_config and any(stored):
            from loopml.server._stored_config import StoredConfigRunner

            if len(stores) == 1:  # the monitors' store (artifact root: training profiles)
                stores.append(self._store(self.artifacts, epoch))
            mon = stores[1]
            workers.append(StoredConfigRunner(tracking, mon, self, *stored))
        for w in workers:
            w.start()
        if self.audit is not None:
            from loopml.security._audit_schedule import start_audit_monitor
            from loopml.services import services_for_store

            sched = start_audit_monitor(services_for_store(tracking), *self.audit)
            if sched is not None:
                workers.append(sched)
        return [*workers, _Closer(stores)]
