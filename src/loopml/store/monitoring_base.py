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
                        new: AlertState) -> bool:
        """Compare-and-set: store ``new`` if the stored state is still ``expected`` (None:
        no row yet). False, and nothing written, when another process moved it first."""
