from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """One row of the append-only event table (the outbox).

    ``seq`` is strictly increasing; consumers keep the last ``seq`` they handled as a cursor.
    """

    seq: int
    type: str
    subject: str
    payload: dict[str, Any] = field(default_factory=dict)
    time: int = 0
    workspace: str = "default"
    # Who caused it: the request's principal (subject, identity kind) or a loopml service
    # (``loopml:loop-controller``, kind ``service``); None when nothing was bound.
    actor: str | None = None
    actor_kind: str | None = None
