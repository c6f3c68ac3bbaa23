"""The event log and its consumers.

The log is the metadata store's append-only event table (``TrackingStore.append_event`` /
``read_events``; over HTTP ``/api/loopml/v1/events``): model-registry changes, datasets,
monitor windows and alert transitions, in one order (``seq``).

A consumer keeps a cursor, the last ``seq`` it handled, and moves it by compare-and-set, so
two processes running the same consumer never both handle an event: the one whose move
fails stops and picks up from the winner's cursor next pass. ``consume`` is that loop; the
consumer decides what "handle and move" is in one step (pipeline triggers record the run
and move the trigger's marker in one transaction; the loop controller starts a loop and
then moves its named cursor).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from loopml._poller import Poller
from loopml.entities import Event

log = logging.getLogger("loopml.events")


class EventSource(Protocol):
    """What the tracking stores implement (SQL and REST)."""

    def read_events(self, after_seq: int = 0, types: Sequence[str] | None = None,
                    limit: int = 1000) -> list[Event]: ...

    def append_event(self, type: str, subject: str, payload: dict[str, Any] | None = None,
                     workspace: str = "default") -> int: ...


def consume(source: EventSource, after: int, types: Sequence[str],
            commit: Callable[[Event, int], bool], limit: int = 100) -> int:
    """Hand each event after ``after`` of ``types`` (in seq order) to ``commit(event,
    cursor)``, which handles it and moves the consumer's cursor from ``cursor`` to
    ``event.seq``, returning False when the move lost (another consumer got there first).
    Stops at the first loss. Returns the cursor reached."""
    cursor = after
    for e in source.read_events(after_seq=after, types=list(types), limit=limit):
        if not commit(e, cursor):
            break
        cursor = e.seq
    return cursor


class Cursor:
    """A named consumer cursor in the metadata store (table ``consumer_cursors``), moved by
    compare-and-set. ``store`` is the tracking store; 0 means "nothing consumed yet"."""

    def __init__(self, store: Any, name: str) -> None:
        from loopml.store import get_loop_store

        self._cursors = get_loop_store(store)
        self.name = name

    def get(self) -> int:
        return int(self._cursors.get_cursor(self.name))

    def move(self, expected: int, new: int) -> bool:
        return bool(self._cursors.move_cursor(self.name, expected, new))


class Consumer(Poller):
    """A consumer with its own cursor, on its own thread (``start``) or called per pass
    (``run_once``). ``handle`` runs once per event (at least once: a crash between handling
    and moving the cursor replays the event). With ``since_ms``, a consumer that has no
    cursor yet skips events older than that (a new webhook does not get the history)."""

    def __init__(self, store: Any, name: str, types: Sequence[str],
                 handle: Callable[[Event], None], interval_s: float = 1.0,
                 since_ms: int | None = None) -> None:
        super().__init__(f"events:{name}")
        self.store = store
        self.cursor = Cursor(store, name)
        self.types = list(types)
        self.handle = handle
        self.interval_s = interval_s
        self.since_ms = since_ms if since_ms is not None else int(time.time() * 1000)

    def run_once(self) -> int:
        """Handle what is new; return the cursor reached."""
        start = self.cursor.get()

        def commit(e: Event, cursor: int) -> bool:
            if start > 0 or e.time >= self.since_ms:
                try:
                    self.handle(e)
                except Exception:  # one bad event must not block the stream
                    log.exception("consumer %s failed on event %d", self.cursor.name, e.seq)
            return self.cursor.move(cursor, e.seq)

        try:
            return consume(self.store, start, self.types, commit)
        except Exception:
            log.exception("consumer %s: cannot read the event log; retrying", self.cursor.name)
            return start


__all__ = ["Consumer", "Cursor", "EventSource", "consume"]
