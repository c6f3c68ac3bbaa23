"""Closed-loop records and the audit log over a loopml server's ``/api/loopml/v1/loops``."""

from __future__ import annotations

from typing import Any

from loopml.errors import InvalidState
from loopml.store.loops_base import AuditEntry, Loop, LoopStore, StaleLoop
from loopml.store.rest import RestStore

_API = "/api/loopml/v1/loops"


class RestLoopStore(LoopStore):
    def __init__(self, tracking: RestStore) -> None:
        self._rest = tracking

    def create_loop(self, loop: Loop, audit_message: str, inputs: dict[str, Any]) -> bool:
        d = self._rest._call("POST", f"{_API}/create", {
            "loop": loop.to_dict(), "message": audit_message, "inputs": inputs})
        return bool(d["created"])

    def get_loop(self, loop_id: str) -> Loop:
        return Loop(**self._rest._call("GET", f"{_API}/{loop_id}")["loop"])

    def list_loops(self, model: str | None = None, active: bool | None = None,
                   limit: int = 100) -> list[Loop]:
        d = self._rest._call("GET", _API, {"model": model, "limit": limit,
                                           "active": None if active is None else str(active).lower()})
        return [Loop(**x) for x in d["loops"]]

    def advance(self, loop_id: str, expected_state: str, action: str, message: str,
                inputs: dict[str, Any], **fields: Any) -> Loop:
        try:
            d = self._rest._call("POST", f"{_API}/{loop_id}/advance", {
                "expected_state": expected_state, "action": action, "message": message,
                "inputs": inputs, "fields": fields})
        except InvalidState as e:
            raise StaleLoop(e.message) from None
        return Loop(**d["loop"])

    def approve(self, loop_id: str, who: str) -> Loop:
        """Through the server's approve route (the approver role): the advance route
        refuses approvals. The server records who authenticated as the approver."""
        d = self._rest._call("POST", f"{_API}/{loop_id}/approve", {"by": who})
        return Loop(**d["loop"])

    def audit(self, model: str, action: str, message: str, inputs: dict[str, Any],
              loop_id: str | None = None) -> None:
        self._rest._call("POST", f"{_API}/audit", {"model": model, "action": action,
                                                  "message": message, "inputs": inputs,
                                                  "loop_id": loop_id})

    def history(self, model: str | None = None, loop_id: str | None = None,
                after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]:
        d = self._rest._call("GET", f"{_API}/history", {
            "model": model, "loop_id": loop_id, "after_seq": after_seq, "limit": limit})
        return [AuditEntry(**x) for x in d["entries"]]

    def get_cursor(self, name: str) -> int:
        return int(self._rest._call("GET", f"{_API}/cursors/{name}")["seq"])

    def move_cursor(self, name: str, expected: int, new: int) -> bool:
        d = self._rest._call("POST", f"{_API}/cursors/{name}", {"expected": expected, "new": new})
        return bool(d["moved"])
