"""The loop store: closed-loop cycles (retrain -> evaluate -> gate -> canary -> outcome), the
audit log of their decisions, and event-log cursors.

Backends: ``loops_sql.py`` (the tracking database: a loop's changes, its audit lines and its
events commit together) and ``loops_rest.py``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from loopml.errors import InvalidState

# Loop states. Active: RETRAINING, EVALUATING, AWAITING_APPROVAL, CANARY.
RETRAINING, EVALUATING, AWAITING_APPROVAL, CANARY = (
    "RETRAINING", "EVALUATING", "AWAITING_APPROVAL", "CANARY")
# Final states (the loop's ``decision``).
PROMOTED, ROLLED_BACK, REJECTED, FAILED = "PROMOTED", "ROLLED_BACK", "REJECTED", "FAILED"
ACTIVE = frozenset({RETRAINING, EVALUATING, AWAITING_APPROVAL, CANARY})
FINAL = frozenset({PROMOTED, ROLLED_BACK, REJECTED, FAILED})


@dataclass(frozen=True)
class Loop:
    loop_id: str
    model: str
    policy: str
    state: str
    trigger: dict[str, Any] = field(default_factory=dict)
    champion_version: int | None = None
    challenger_version: int | None = None
    pipeline_run_id: str | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] = field(default_factory=dict)
    canary: dict[str, Any] = field(default_factory=dict)
    decision: str | None = None
    reason: str | None = None
    dry_run: bool = False
    approved_by: str | None = None
    created_time: int = 0
    updated_time: int = 0

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    loop_id: str | None
    model: str
    action: str
    message: str
    inputs: dict[str, Any]
    time: int
    # Who decided (security/actor.py): an approver's subject, or loopml:loop-controller.
    actor: str | None = None
    actor_kind: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


class StaleLoop(InvalidState):
    """The loop was not in the expected state: another controller (or a restart) moved it.
    Over REST it arrives as INVALID_STATE; the REST store turns it back into StaleLoop."""


class LoopStore(abc.ABC):
    @abc.abstractmethod
    def create_loop(self, loop: Loop, audit_message: str, inputs: dict[str, Any]) -> bool:
        """Insert ``loop`` and its 'triggered' audit line, unless the model already has an
        active loop: then write an 'ignored' audit line instead and return False."""

    @abc.abstractmethod
    def get_loop(self, loop_id: str) -> Loop: ...

    @abc.abstractmethod
    def list_loops(self, model: str | None = None, active: bool | None = None,
                   limit: int = 100) -> list[Loop]:
        """Newest first."""

    @abc.abstractmethod
    def advance(self, loop_id: str, expected_state: str, action: str, message: str,
                inputs: dict[str, Any], **fields: Any) -> Loop:
        """Change the loop (state and/or fields) only if it is in ``expected_state``, and
        append the audit line, in one transaction. A final state frees the model for the
        next loop. Raises ``StaleLoop`` when the state moved meanwhile."""

    @abc.abstractmethod
    def audit(self, model: str, action: str, message: str, inputs: dict[str, Any],
              loop_id: str | None = None) -> None: ...

    @abc.abstractmethod
    def history(self, model: str | None = None, loop_id: str | None = None,
                after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]:
        """Audit lines in order."""

    @abc.abstractmethod
    def get_cursor(self, name: str) -> int: ...

    @abc.abstractmethod
    def move_cursor(self, name: str, expected: int, new: int) -> bool:
        """Compare-and-set a consumer's event cursor."""
