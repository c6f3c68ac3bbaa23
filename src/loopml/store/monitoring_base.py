"""The monitoring store: ground-truth feedback, per-window monitor results, and the state of
each monitor's alert rules (so a restarted process continues it).

Backends: ``monitoring_sql.py`` (the tracking database) and ``monitoring_rest.py``.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from loopml.errors import InvalidParameterValue

MAX_FEEDBACK_BATCH = 10_000


@dataclass(frozen=True)
class WindowResult:
    monitor: str
    window_start: int
    window_end: int
    metrics: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "window_start": self.window_start,
                "window_end": self.window_end, "metrics": self.metrics, "details": self.details}


@dataclass(frozen=True)
class AlertState:
    """Where one rule stands for one subject: consecutive breaching windows, whether it is
    firing, and the end (ms) of the last window observed (None: never observed)."""

    streak: int = 0
    firing: bool = False
    last_window: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"streak": self.streak, "firing": self.firing, "last_window": self.last_window}

    def __post_init__(self) -> None:
        if not 0 <= self.streak < 2**31:
            raise InvalidParameterValue(
                f"An alert state's streak must be between 0 and 2^31-1, not {self.streak}.")
        if self.last_window is not None and not 0 <= self.last_window < 2**63:
            raise InvalidParameterValue(
                "An alert state's last_window must be ms since the epoch (0 to 2^63-1), "
                f"not {self.last_window}.")


def validate_alert_key(monitor: str, rule: str, subject: str) -> None:
    """Raise ``InvalidParameterValue`` unless the names fit the ``alert_states`` columns."""
    for what, value, most in (("monitor", monitor, 256), ("rule", rule, 256),
                              ("subject", subject, 500)):
        if not value or len(value) > most:
            raise InvalidParameterValue(
                f"An alert's {what} must be 1 to {most} characters, not {len(value)}.")


ALERT_EVENT_TYPES = ("alert.firing", "alert.resolved")


@dataclass(frozen=True)
class AlertTransition:
    """The event an alert state change publishes: type (one of ``ALERT_EVENT_TYPES``),
    subject ``<rule>/<subject>`` and the payload ``monitoring.alerts`` documents."""

    type: str
    subject: str
    payload: dict[str, Any]

    def __post_init__(self) -> None:
        if self.type not in ALERT_EVENT_TYPES:
            raise InvalidParameterValue(
                f"An alert transition's type must be one of {list(ALERT_EVENT_TYPES)}, "
                f"not {self.type!r}.")
        if not self.subject or len(self.subject) > 500:
            raise InvalidParameterValue(
                "An alert transition's subject must be 1 to 500 characters.")


def validate_feedback(items: Sequence[tuple[str, Any]]) -> None:
    if not items:
        raise InvalidParameterValue("Feedback needs at least one {request_id, label}.")
    if len(items) > MAX_FEEDBACK_BATCH:
        raise InvalidParameterValue(
            f"At most {MAX_FEEDBACK_BATCH} labels per call; split the batch.")
    for rid, label in items:
        if not isinstance(rid, str) or not rid or len(rid) > 128:
            raise InvalidParameterValue(
                f"Invalid request_id {rid!r}: send the x-request-id header value of the "
                "inference response (at most 128 characters).")
        if label is None or isinstance(label, dict):
            raise InvalidParameterValue(
                f"Invalid label for {rid!r}: send a number, a string or a list.")


class MonitoringStore(abc.ABC):
    @abc.abstractmethod
    def log_feedback(self, items: Sequence[tuple[str, Any]]) -> int:
        """Store labels by request id (a later label replaces an earlier one); returns how
        many were stored."""

    @abc.abstractmethod
    def get_feedback(self, request_ids: Sequence[str]) -> dict[str, Any]: ...

    @abc.abstractmethod
    def put_result(self, result: WindowResult) -> bool:
        """Store one window's result; False (and nothing written) if it already exists."""

    @abc.abstractmethod
    def results(self, monitor: str, since: int = 0, until: int | None = None) -> list[WindowResult]: ...

    @abc.abstractmethod
    def computed_windows(self, monitor: str) -> set[int]: ...

    @abc.abstractmethod
    def last_window_end(self, monitor: str) -> int:
        """The end (ms) of the monitor's latest stored window, 0 if none: the monitor's
        read cursor (nothing before it is read again)."""

    @abc.abstractmethod
    def alert_states(self, monitor: str) -> dict[tuple[str, str], AlertState]:
        """The monitor's alert states by (rule, subject)."""

    @abc.abstractmethod
    def put_alert_state(self, monitor: str, rule: str, subject: str, expected: AlertState | None,
                        new: AlertState, event: AlertTransition | None = None) -> bool:
        """Compare-and-set: store ``new`` if the stored state is still ``expected`` (None:
        no row yet), and append ``event`` (an ``alert.firing``/``alert.resolved``
        transition) to the event log in the same transaction, so a transition is published
        exactly once. False, and nothing written, when another process moved it first."""


__all__ = ["ALERT_EVENT_TYPES", "MAX_FEEDBACK_BATCH", "AlertState", "AlertTransition",
           "MonitoringStore", "WindowResult", "validate_alert_key", "validate_feedback"]
