"""Feedback, monitor results and alert states over a loopml server's ``/api/loopml/v1`` API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loopml.store.monitoring_base import (
    AlertState,
    AlertTransition,
    MonitoringStore,
    WindowResult,
)
from loopml.store.rest import RestStore

_API = "/api/loopml/v1"


class RestMonitoringStore(MonitoringStore):
    def __init__(self, tracking: RestStore) -> None:
        self._rest = tracking

    def log_feedback(self, items: Sequence[tuple[str, Any]]) -> int:
        body = {"items": [{"request_id": r, "label": y} for r, y in items]}
        return int(self._rest._call("POST", f"{_API}/feedback", body)["stored"])

    def get_feedback(self, request_ids: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        ids = list(request_ids)
        for i in range(0, len(ids), 500):
            d = self._rest._call("POST", f"{_API}/feedback/get", {"request_ids": ids[i:i + 500]})
            out.update(d["labels"])
        return out

    def put_result(self, result: WindowResult) -> bool:
        d = self._rest._call("POST", f"{_API}/monitors/{result.monitor}/results",
                             result.to_dict())
        return bool(d["stored"])

    def results(self, monitor: str, since: int = 0, until: int | None = None) -> list[WindowResult]:
        d = self._rest._call("GET", f"{_API}/monitors/{monitor}/results",
                             {"since": since, "until": until})
        return [WindowResult(**r) for r in d["results"]]

    def computed_windows(self, monitor: str) -> set[int]:
        return {r.window_start for r in self.results(monitor)}

    def last_window_end(self, monitor: str) -> int:
        return int(self._rest._call("GET", f"{_API}/monitors/{monitor}/cursor", {})["window_end"])

    def alert_states(self, monitor: str) -> dict[tuple[str, str], AlertState]:
        d = self._rest._call("GET", f"{_API}/monitors/{monitor}/alerts", {})
        return {(a["rule"], a["subject"]): AlertState(a["streak"], a["firing"], a["last_window"])
                for a in d["alerts"]}

    def put_alert_state(self, monitor: str, rule: str, subject: str, expected: AlertState | None,
                        new: AlertState, event: AlertTransition | None = None) -> bool:
        body = {"rule": rule, "subject": subject, "state": new.to_dict(),
                "expected": expected.to_dict() if expected is not None else None,
                "event": None if event is None else {
                    "type": event.type, "subject": event.subject, "payload": event.payload}}
        return bool(self._rest._call("POST", f"{_API}/monitors/{monitor}/alerts", body)["stored"])


__all__ = ["RestMonitoringStore"]
