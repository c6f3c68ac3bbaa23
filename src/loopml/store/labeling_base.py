"""The labeling store: who labelled or skipped which logged request, the pre-label shown and
whether it was corrected (``loopml.labeling``). A label is also written to the feedback
table in the same transaction, so live quality (monitors, the loop's canary) and retraining
(``labelled_traffic``) see it exactly as if it had come through ``POST /feedback``.

Backends: ``labeling_sql.py`` (the tracking database; PostgreSQL or SQLite).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from loopml.errors import InvalidParameterValue
from loopml.store.monitoring_base import MAX_FEEDBACK_BATCH, validate_feedback

ACTIONS = ("label", "skip")
SOURCES = ("dashboard", "api", "cli", "import")


def same_label(a: Any, b: Any) -> bool:
    """Whether a person's label equals the pre-label. Scalars compare by their text, since a
    form posts ``"1"`` for the class ``1``; lists compare element-wise the same way."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_label(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, list) or isinstance(b, list):
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).lower() == str(b).lower()
    if isinstance(a, float) and a.is_integer():
        a = int(a)
    if isinstance(b, float) and b.is_integer():
        b = int(b)
    return str(a) == str(b)


@dataclass(frozen=True)
class LabelInput:
    """One decision to store. ``label`` is None for a skip; ``prelabel`` None when the
    person was shown no pre-label."""

    request_id: str
    deployment: str
    action: str = "label"
    label: Any = None
    prelabel: Any = None
    labeler: str = "anonymous"
    source: str = "api"
    strategy: str = ""

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise InvalidParameterValue(
                f"A labeling action must be one of {list(ACTIONS)}, not {self.action!r}.")
        if self.source not in SOURCES:
            raise InvalidParameterValue(
                f"A label's source must be one of {list(SOURCES)}, not {self.source!r}.")
        if not isinstance(self.deployment, str) or not 0 < len(self.deployment) <= 256:
            raise InvalidParameterValue("A label's deployment must be 1 to 256 characters.")
        if not isinstance(self.labeler, str) or not 0 < len(self.labeler) <= 255:
            raise InvalidParameterValue("A label's labeler must be 1 to 255 characters.")
        if len(self.strategy) > 32:
            raise InvalidParameterValue("A label's strategy must be at most 32 characters.")
        if self.action == "label":
            validate_feedback([(self.request_id, self.label)])
        elif not isinstance(self.request_id, str) or not 0 < len(self.request_id) <= 128:
            raise InvalidParameterValue(
                f"Invalid request_id {self.request_id!r}: 1 to 128 characters.")

    @property
    def corrected(self) -> bool | None:
        if self.action != "label" or self.prelabel is None:
            return None
        return not same_label(self.label, self.prelabel)


@dataclass(frozen=True)
class LabelRecord:
    """A stored decision; ``seq`` orders them, ``time`` is ms since the epoch."""

    seq: int
    request_id: str
    deployment: str
    action: str
    label: Any
    prelabel: Any
    corrected: bool | None
    labeler: str
    source: str
    strategy: str
    time: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LabelStats:
    """Counts for one deployment. ``correction_rate`` = corrected / (confirmed + corrected):
    the share of pre-labels the people changed (None before any pre-labelled item)."""

    labeled: int
    skipped: int
    confirmed: int
    corrected: int
    by_labeler: dict[str, int]

    @property
    def correction_rate(self) -> float | None:
        n = self.confirmed + self.corrected
        return self.corrected / n if n else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "correction_rate": self.correction_rate}


def validate_batch(items: Sequence[LabelInput]) -> None:
    if not items:
        raise InvalidParameterValue("Send at least one label.")
    if len(items) > MAX_FEEDBACK_BATCH:
        raise InvalidParameterValue(
            f"At most {MAX_FEEDBACK_BATCH} labels per call; split the batch.")


class LabelingStore(abc.ABC):
    @abc.abstractmethod
    def record(self, items: Sequence[LabelInput]) -> int:
        """Store the decisions (a later one for a request id replaces the earlier one) and
        the labels' feedback, in one transaction; returns how many were stored. Raises
        ``InvalidParameterValue`` for an empty or oversized batch."""

    @abc.abstractmethod
    def undo(self, deployment: str, labeler: str) -> LabelRecord | None:
        """Take back ``labeler``'s newest decision on ``deployment``: the record goes, and
        its feedback label too unless another label replaced it since. None if nothing is
        left to undo."""

    @abc.abstractmethod
    def records(self, deployment: str, limit: int = 1000,
                request_ids: Sequence[str] | None = None) -> list[LabelRecord]:
        """The deployment's decisions, newest first (at most ``limit``), or those of
        ``request_ids``."""

    @abc.abstractmethod
    def decided(self, request_ids: Sequence[str]) -> set[str]:
        """Which of ``request_ids`` have a decision (labelled or skipped)."""

    @abc.abstractmethod
    def stats(self, deployment: str) -> LabelStats: ...


__all__ = ["ACTIONS", "SOURCES", "LabelInput", "LabelRecord", "LabelStats", "LabelingStore",
           "same_label", "validate_batch"]
