"""Alert rules over monitor metrics, and the events they publish.

A rule is ``metric op threshold`` held for ``for_windows`` consecutive windows. Per rule and
subject (a deployment, a model alias) an alert moves ok -> firing -> resolved -> ...; each
transition is published once (deduplicated), and observing a window again, or an older one,
changes nothing (monitors may re-run a window).

With a monitoring store, that state lives in the store (per monitor, rule and subject) and
moves by compare-and-set, together with the transition's event (one transaction), so any
process continues it and each transition reaches the event log exactly once: a restarted
server or the next ``loopml monitor run`` does not fire again what is firing, and resolves
what an earlier process fired. Without one (a bare engine in a test) it lives in memory and
``publish`` is the only sink.

The trigger interface for the closed loop: every transition is appended to the metadata
store's event log (``/api/loopml/v1/events``) as

    type    "alert.firing" | "alert.resolved"
    subject "<rule name>/<subject>"
    payload {"rule", "subject", "metric", "op", "threshold", "value", "window_end",
             "for_windows", "labels", "monitor"}

in the same place as model-registry events, so automation consumes one ordered stream.
Webhooks are a consumer of that stream (``monitoring.webhooks.WebhookConsumer``), not a
sink called from the monitor's thread.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import field_validator

from loopml._config import config_model, unknown
from loopml.store.monitoring_base import AlertState, AlertTransition, MonitoringStore

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne,
}
FIRING, RESOLVED = "alert.firing", "alert.resolved"

# The metrics a monitor computes per window (monitor.compute_window; a test keeps the two
# in step), each with the spec key it needs: a rule on a metric that is never computed
# would never fire, so it is refused when the spec is loaded.
METRICS: dict[str, str | None] = {
    "requests": None, "errors.rate": None, "latency.p50_ms": None, "latency.p99_ms": None,
    "drift.share_drifted": "reference_profile", "drift.dataset_drift": "reference_profile",
    "prediction.drift": "prediction_profile", "prediction.drifted": "prediction_profile",
    "data.anomalies": "schema", "data.errors": "schema",
    "quality.labels": "task", "quality.accuracy": "task=classification",
    "quality.f1": "task=classification", "quality.roc_auc": "task=classification",
    "quality.mae": "task=regression", "quality.rmse": "task=regression",
    # monitoring/staleness.py: computed when the reference follows a registered model.
    "staleness.model_age_days": "reference_profile",
    "staleness.data_age_days": "reference_profile",
    "staleness.labels_age_days": "reference_profile",
}


@config_model(frozen=True)
class AlertRule:
    """``metric op threshold`` held for ``for_windows`` consecutive windows. ``metric`` is
    one of ``METRICS``; a bad rule raises ``InvalidConfig`` (a 400)."""

    name: str
    metric: str  # e.g. "drift.share_drifted", "latency.p99_ms", "quality.accuracy"
    op: Literal[">", ">=", "<", "<=", "==", "!="]
    threshold: float
    for_windows: int = 1
    labels: dict[str, str] = field(default_factory=dict, hash=False)

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, v: str) -> str:
        if v not in METRICS:
            raise unknown("metric", v, METRICS)
        return v

    @field_validator("for_windows")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"must be at least 1, got {v}")
        return v

    def breached(self, value: float) -> bool:
        return OPS[self.op](value, self.threshold)


@dataclass(frozen=True)
class AlertEvent:
    type: str  # FIRING | RESOLVED
    rule: str
    subject: str
    metric: str
    op: str
    threshold: float
    value: float
    window_end: int
    for_windows: int
    labels: dict[str, str]
    monitor: str = ""

    def payload(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("type")
        return d


class AlertEngine:
    """Feed it each window's metrics; it returns (and publishes) the transitions.

    ``store`` and ``monitor``: keep the state in the monitoring store under that monitor's
    name, and append each transition to the store's event log with it (see the module
    docstring); otherwise in this object. ``publish`` gets every transition (other sinks:
    a log line; without a store, the event log through ``store_publisher``)."""

    def __init__(self, rules: Iterable[AlertRule],
                 publish: Callable[[AlertEvent], None] | None = None,
                 store: MonitoringStore | None = None, monitor: str = "") -> None:
        self.rules = list(rules)
        self.publish = publish
        self.store = store
        self.monitor = monitor
        self._state: dict[tuple[str, str], AlertState] = {}

    def _states(self) -> dict[tuple[str, str], AlertState]:
        return self.store.alert_states(self.monitor) if self.store else self._state

    def _save(self, key: tuple[str, str], old: AlertState | None, new: AlertState,
              event: AlertEvent | None) -> bool:
        if self.store is None:
            self._state[key] = new
            return True
        transition = None if event is None else AlertTransition(
            event.type, f"{event.rule}/{event.subject}", event.payload())
        return self.store.put_alert_state(self.monitor, key[0], key[1], old, new, transition)

    def firing(self) -> list[tuple[str, str]]:
        return sorted(k for k, s in self._states().items() if s.firing)

    def observe(self, subject: str, window_end: int, metrics: dict[str, float]) -> list[AlertEvent]:
        events: list[AlertEvent] = []
        states = self._states()
        for rule in self.rules:
            if rule.metric not in metrics:
                continue  # no data for this metric in this window: the state holds
            key = (rule.name, subject)
            for _ in range(3):  # compare-and-set; a lost race re-reads the winner's state
                old = states.get(key)
                value = float(metrics[rule.metric])
                new, kind = self._next(rule, old or AlertState(), window_end, value)
                if new is None:
                    break  # a window seen before (a re-run) or out of order: idempotent
                event = self._event(kind, rule, subject, value, window_end) if kind else None
                if self._save(key, old, new, event):
                    if event is not None:
                        events.append(event)
                    break
                states = self._states()
        if self.publish:
            for e in events:
                self.publish(e)
        return events

    @staticmethod
    def _next(rule: AlertRule, st: AlertState, window_end: int,
              value: float) -> tuple[AlertState | None, str | None]:
        """-> (the new state, or None to change nothing; the transition, if any)."""
        if st.last_window is not None and window_end <= st.last_window:
            return None, None
        if rule.breached(value):
            streak = st.streak + 1
            fire = not st.firing and streak >= rule.for_windows
            return AlertState(streak, st.firing or fire, window_end), FIRING if fire else None
        return AlertState(0, False, window_end), RESOLVED if st.firing else None

    def _event(self, kind: str, rule: AlertRule, subject: str, value: float,
               window_end: int) -> AlertEvent:
        return AlertEvent(kind, rule.name, subject, rule.metric, rule.op, rule.threshold, value,
                          window_end, rule.for_windows, dict(rule.labels), self.monitor)


def store_publisher(store: Any) -> Callable[[AlertEvent], None]:
    """Publish alert transitions to a TrackingStore's event log (the closed-loop triggers)."""

    def publish(e: AlertEvent) -> None:
        store.append_event(e.type, f"{e.rule}/{e.subject}", e.payload())

    return publish


def notifier(publishers: list[Callable[[AlertEvent], None]]) -> Callable[[AlertEvent], None]:
    """Fan one transition out to several sinks (event log, log line, webhooks); a failing
    sink is logged and never stops the others."""
    import logging

    log = logging.getLogger("loopml.alerts")

    def publish(e: AlertEvent) -> None:
        log.warning("%s %s/%s: %s %s %s (value %s, window %s)", e.type, e.rule, e.subject,
                    e.metric, e.op, e.threshold, e.value, e.window_end)
        for p in publishers:
            try:
                p(e)
            except Exception:
                log.exception("alert sink failed for %s", e.rule)

    return publish


__all__ = ["FIRING", "OPS", "RESOLVED", "AlertEngine", "AlertEvent", "AlertRule", "notifier", "store_publisher"]
