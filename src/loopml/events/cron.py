"""Cron schedules: the one place loopml computes when a schedule is due (pipeline triggers
and loop policies both use it). Times are ms since the epoch, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def is_valid(cron: object) -> bool:
    """A five-field cron expression croniter accepts."""
    from croniter import croniter

    return isinstance(cron, str) and bool(croniter.is_valid(cron))


def next_fire(cron: str, after_ms: int) -> int:
    """The first time strictly after ``after_ms`` that ``cron`` names."""
    from croniter import croniter

    base = datetime.fromtimestamp(after_ms / 1000, UTC)
    nxt = croniter(cron, base).get_next(datetime)
    return int(nxt.timestamp() * 1000)


def step(cron: str, marker: int, now_ms: int) -> tuple[bool, int]:
    """One tick of a schedule whose next fire time is ``marker`` (0: not started).

    -> (fire now?, the new marker). A schedule that missed several times while nothing ran
    fires once and moves to the next time after ``now_ms``: it catches up with one run, not
    a burst. A new schedule (marker 0) does not fire; it is armed for its next time."""
    if marker == 0:
        return False, next_fire(cron, now_ms)
    if marker <= now_ms:
        return True, next_fire(cron, now_ms)
    return False, marker


__all__ = ["is_valid", "next_fire", "step"]
