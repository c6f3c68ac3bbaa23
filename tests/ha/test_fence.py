"""Fencing on PostgreSQL: a write of a deposed leader fails once the epoch moved, and the new
leader's epoch bump waits for the old leader's transaction in flight."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

from loopml.ha import Deposed, SingleElector, install_fence
from loopml.ha.election import bump_epoch
from loopml.store import _schema as t
from loopml.store import get_loop_store, get_store
from tests.conftest import PG_HOST, PG_PORT, need_service


@pytest.fixture(scope="module")
def pg() -> Iterator[str]:
    """One fresh database for the module (migrating one costs seconds); each test uses its
    own lease name and cursor names."""
    need_service("PostgreSQL", PG_HOST, PG_PORT)
    name = f"loopml_test_{uuid.uuid4().hex[:12]}"
    admin = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_deposed_leader_cannot_write(pg: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    other = get_store(pg, str(tmp_path))
    with other.engine.begin() as conn:  # type: ignore[attr-defined]
        epoch = bump_epoch(conn, "lease-a", "a")
    leader = get_store(pg, str(tmp_path))
    install_fence(leader.engine, epoch, "lease-a")  # type: ignore[attr-defined]
    loops = get_loop_store(leader)
    assert loops.move_cursor("c", 0, 5)
    assert loops.get_cursor("c") == 5  # reads are not fenced
    with other.engine.begin() as conn:  # type: ignore[attr-defined]
        assert bump_epoch(conn, "lease-a", "b") == epoch + 1
    with pytest.raises(Deposed, match="another replica leads"):
        loops.move_cursor("c", 5, 6)
    assert get_loop_store(other).get_cursor("c") == 5
    leader.close()
    other.close()


def test_bump_waits_for_fenced_transaction(pg: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    other = get_store(pg, str(tmp_path))
    engine = other.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        epoch = bump_epoch(conn, "lease-b", "a")
    leader = get_store(pg, str(tmp_path))
    install_fence(leader.engine, epoch, "lease-b")  # type: ignore[attr-defined]
    bumped: list[float] = []

    def bump() -> None:
        with engine.begin() as conn:
            bump_epoch(conn, "lease-b", "b")
        bumped.append(time.monotonic())

    with leader.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(sa.insert(t.consumer_cursors).values(name="x", seq=1))
        th = threading.Thread(target=bump)
        th.start()
        time.sleep(0.5)
        assert not bumped  # blocked on the fence's share lock
        committed = time.monotonic()
    th.join(10)
    assert bumped and bumped[0] >= committed
    assert get_loop_store(other).get_cursor("x") == 1  # the old leader's work is visible
    leader.close()
    other.close()


def test_sqlite_single_process_leads(sqlite_uri: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = get_store(sqlite_uri, str(tmp_path))
    engine = store.engine  # type: ignore[attr-defined]
    e = SingleElector(engine, "me")
    assert e.try_acquire() == 1 and e.renew()
    assert SingleElector(engine, "me").try_acquire() == 2
    install_fence(engine, 1)  # no-op on SQLite
    assert get_loop_store(store).move_cursor("c", 0, 1)
    store.close()


def test_runner_survives_a_failing_election_and_stops_work(sqlite_uri: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from loopml.ha import LeaderRunner

    store = get_store(sqlite_uri, str(tmp_path))
    elector = SingleElector(store.engine)  # type: ignore[attr-defined]
    calls = {"n": 0}
    real = elector.try_acquire

    def flaky() -> int | None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database is locked")
        return real()

    elector.try_acquire = flaky  # type: ignore[method-assign]
    stopped: list[int] = []

    class W:
        def __init__(self, epoch: int) -> None:
            self.epoch = epoch

        def stop(self) -> None:
            stopped.append(self.epoch)

    runner = LeaderRunner(elector, lambda e: [W(e)], poll_s=0.05, renew_s=0.05)
    runner.start()
    deadline = time.time() + 10
    while not runner.leading and time.time() < deadline:
        time.sleep(0.02)
    assert runner.leading and calls["n"] == 2
    runner.stop()
    assert stopped == [runner.terms] and not runner.leading
    store.close()
