"""The events module: cron ticks, and consumers with compare-and-set cursors in the store."""

from __future__ import annotations

from loopml.entities import Event
from loopml.events import Consumer, Cursor, consume, cron
from loopml.store.sql import SqlStore


def test_cron_step_arms_fires_once_and_catches_up_with_one_run() -> None:
    every_min = "* * * * *"
    armed, marker = cron.step(every_min, 0, 90_000)
    assert not armed and marker == 120_000
    assert cron.step(every_min, marker, 100_000) == (False, 120_000)
    # missed many times (the process was down): one run, then the next time after now
    assert cron.step(every_min, marker, 10 * 60_000 + 5) == (True, 11 * 60_000)
    assert cron.is_valid("*/5 * * * *") and not cron.is_valid("every minute")
    assert not cron.is_valid(5)


def test_two_consumers_on_one_cursor_handle_each_event_once(tmp_path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'db'}", str(tmp_path / "a"))
    for i in range(5):
        store.append_event("alert.firing", f"r/{i}", {"i": i})
    seen: list[tuple[str, int]] = []
    a = Consumer(store, "c", ["alert.firing"], lambda e: seen.append(("a", e.seq)), since_ms=0)
    b = Consumer(store, "c", ["alert.firing"], lambda e: seen.append(("b", e.seq)), since_ms=0)
    end = a.run_once()
    assert b.run_once() == end and [w for w, _ in seen] == ["a"] * 5
    assert Cursor(store, "c").get() == end
    store.append_event("alert.firing", "r/new")
    b.run_once()
    assert seen[-1][0] == "b" and len(seen) == 6
    store.close()


def test_a_new_consumer_skips_the_history(tmp_path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'db'}", str(tmp_path / "a"))
    store.append_event("alert.firing", "old")
    seen: list[str] = []
    c = Consumer(store, "hooks", ["alert.firing"], lambda e: seen.append(e.subject),
                 since_ms=10**13)  # "now" is after every event so far
    c.run_once()
    assert seen == [] and c.cursor.get() > 0
    store.append_event("alert.firing", "new")
    c.run_once()
    assert seen == ["new"]
    store.close()


def test_consume_stops_where_the_move_is_lost(tmp_path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'db'}", str(tmp_path / "a"))
    seqs = [store.append_event("x", str(i)) for i in range(3)]
    moves: list[Event] = []

    def commit(e: Event, cursor: int) -> bool:
        moves.append(e)
        return e.seq != seqs[1]  # someone else moved the cursor at the second event

    assert consume(store, 0, ["x"], commit) == seqs[0]
    assert [e.seq for e in moves] == seqs[:2]
    store.close()
