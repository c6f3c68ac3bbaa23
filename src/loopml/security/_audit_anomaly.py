"""Anomaly detection on loopml's own access: a monitor over the audit trail, per identity,
alerting through the same alert engine, alert states and event log as model monitors
(``monitoring/alerts.py``: ``alert.firing``/``alert.resolved`` events with monitor
``loopml.access`` and the identity as subject; webhooks and the controller consume them).

Per window (``window_s``) and identity it computes

- ``access.requests``, ``access.denials``, ``access.denial_rate`` (deny / requests),
  ``access.downloads`` (artifact downloads);
- ``access.requests_z``, ``access.downloads_z``: the window's count against the identity's
  baseline, the previous ``baseline_windows`` windows: (x - mean) / max(std, 1). The floor
  of 1 keeps a quiet identity (mean 0, std 0) from alerting on its first request, while 20
  downloads from an identity that downloads nothing still score 20;
- ``access.new_clients``: client addresses the identity never used in its baseline (0 when
  it has no baseline: a new identity is not "new address" noise);
- ``access.off_hours``: the share of its requests in UTC hours it never used in the
  baseline (0 with fewer than ``min_baseline_records`` baseline records).

Rules are ``metric op threshold`` held for ``for_windows`` windows, as for models; the
defaults (``DEFAULT_RULES``) flag bulk downloads, request bursts, repeated denials and
sign-ins from new addresses.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from pydantic import field_validator

from loopml._config import config_model, unknown
from loopml.monitoring.alerts import OPS, AlertEngine, AlertEvent
from loopml.security._audit_sql import AuditRecord

MONITOR = "loopml.access"
DOWNLOAD = "artifact.download"
ACCESS_METRICS = ("access.requests", "access.denials", "access.denial_rate",
                  "access.downloads", "access.requests_z", "access.downloads_z",
                  "access.new_clients", "access.off_hours")


@config_model(frozen=True)
class AccessRule:
    """An alert rule over an access metric (``ACCESS_METRICS``); same shape and meaning
    as ``monitoring.alerts.AlertRule``."""

    name: str
    metric: str
    op: Literal[">", ">=", "<", "<=", "==", "!="]
    threshold: float
    for_windows: int = 1
    labels: dict[str, str] = field(default_factory=dict, hash=False)

    @field_validator("metric")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in ACCESS_METRICS:
            raise unknown("metric", v, ACCESS_METRICS)
        return v

    def breached(self, value: float) -> bool:
        return OPS[self.op](value, self.threshold)


DEFAULT_RULES = (
    AccessRule("bulk-download", "access.downloads_z", ">", 10.0,
               labels={"severity": "critical"}),
    AccessRule("request-burst", "access.requests_z", ">", 8.0),
    AccessRule("repeated-denials", "access.denials", ">=", 10.0),
    AccessRule("new-client-address", "access.new_clients", ">", 0.0),
    AccessRule("off-hours", "access.off_hours", ">", 0.5),
)


@dataclass
class _Counts:
    requests: int = 0
    denials: int = 0
    downloads: int = 0
    clients: set[str] = field(default_factory=set)
    hours: list[int] = field(default_factory=list)


def _count(records: Iterable[AuditRecord]) -> dict[str, _Counts]:
    out: dict[str, _Counts] = defaultdict(_Counts)
    for r in records:
        c = out[r.actor]
        c.requests += 1
        c.denials += r.outcome == "deny"
        c.downloads += r.action == DOWNLOAD
        if r.client:
            c.clients.add(r.client)
        c.hours.append(r.time // 3_600_000 % 24)
    return out


def _z(x: float, history: Sequence[float]) -> float:
    if not history:
        return x  # no baseline: against mean 0 and the floor std 1
    mean = sum(history) / len(history)
    std = math.sqrt(sum((h - mean) ** 2 for h in history) / len(history))
    return (x - mean) / max(std, 1.0)


class AccessMonitor:
    """Evaluates windows of the audit trail (``audit``: an ``AuditLog``) and feeds each
    identity's metrics to an ``AlertEngine`` (``monitoring_store``: keep alert states and
    append transitions to the event log; None: in memory, ``publish`` only)."""

    def __init__(self, audit: Any, rules: Sequence[AccessRule] = DEFAULT_RULES,
                 monitoring_store: Any = None, window_s: int = 300, baseline_windows: int = 12,
                 min_baseline_records: int = 50, publish: Any = None) -> None:
        self.audit = audit
        self.window_ms = window_s * 1000
        self.baseline_windows = baseline_windows
        self.min_baseline_records = min_baseline_records
        # AccessRule has AlertRule's shape; the engine reads only name, metric, op,
        # threshold, for_windows, labels and breached().
        self.engine = AlertEngine(cast(Any, rules), publish=publish, store=monitoring_store,
                                  monitor=MONITOR)

    def _records(self, since_ms: int, until_ms: int) -> list[AuditRecord]:
        out: list[AuditRecord] = []
        after = 0
        while True:  # pages in chain order, so a busy window is read whole
            page = self.audit.query(since_ms=since_ms, until_ms=until_ms, after_seq=after,
                                    limit=10_000, newest_first=False)
            out += page
            if len(page) < 10_000:
                return out
            after = page[-1].seq

    def metrics(self, window_end_ms: int) -> dict[str, dict[str, float]]:
        """``{identity: {metric: value}}`` for the window ending at ``window_end_ms``
        (what the audit log holds queued is written first)."""
        self.audit.flush()
        start = window_end_ms - self.window_ms
        base_start = start - self.baseline_windows * self.window_ms
        base_records = self._records(base_start, start)
        now = _count(self._records(start, window_end_ms))
        per_window: dict[str, list[_Counts]] = defaultdict(
            lambda: [_Counts() for _ in range(self.baseline_windows)])
        for r in base_records:
            i = min(self.baseline_windows - 1, (r.time - base_start) // self.window_ms)
            c = per_window[r.actor][i]
            c.requests += 1
            c.downloads += r.action == DOWNLOAD
        base = _count(base_records)
        out: dict[str, dict[str, float]] = {}
        for actor, c in now.items():
            history = per_window.get(actor)
            b = base.get(actor)
            seen = b is not None and b.requests >= self.min_baseline_records
            out[actor] = {
                "access.requests": c.requests, "access.denials": c.denials,
                "access.denial_rate": c.denials / c.requests, "access.downloads": c.downloads,
                "access.requests_z": _z(c.requests, [h.requests for h in history or []]),
                "access.downloads_z": _z(c.downloads, [h.downloads for h in history or []]),
                "access.new_clients": len(c.clients - b.clients) if b else 0,
                "access.off_hours": (sum(h not in set(b.hours) for h in c.hours) / c.requests
                                     if seen and b else 0.0),
            }
        return out

    def evaluate(self, window_end_ms: int) -> list[AlertEvent]:
        """Compute the window ending at ``window_end_ms`` (flushing the audit log first) and
        return the alert transitions it caused (each published once)."""
        events: list[AlertEvent] = []
        for actor, m in sorted(self.metrics(window_end_ms).items()):
            events += self.engine.observe(actor, window_end_ms, m)
        return events
