"""Leader election for the control plane's background work.

An ``Elector`` answers two questions for one replica: "may I lead now?" (``try_acquire``,
returning the fencing epoch, or None) and "do I still lead?" (``renew``). Two backends,
chosen by the metadata store's dialect (``elector_for``):

- PostgreSQL (``_postgres.PostgresElector``): a session-level advisory lock held on a
  dedicated connection, plus the epoch row of ``leader_leases`` raised on each election;
- SQLite (``SingleElector``): one process owns the database file, so it leads at once.

Both write the ``leader_leases`` row, which ``/health/leader`` reads.
"""

from __future__ import annotations

import os
import socket
import time
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from loopml.ha.fence import LEASE
from loopml.store import _schema as t


def replica_id() -> str:
    """This replica's name in the lease: host:pid:nonce (the nonce tells apart a restarted
    process that got the same pid, e.g. PID 1 in a container)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def now_ms() -> int:
    return int(time.time() * 1000)


class Elector:
    """Contract: ``try_acquire()`` returns the new epoch (> every earlier one) when this
    replica became leader, else None; ``renew()`` returns False (or raises) when it no longer
    leads; ``release()`` gives up leadership and frees its resources. Not thread-safe: one
    thread (``LeaderRunner``) calls it."""

    name: str = LEASE
    holder: str = ""

    def try_acquire(self) -> int | None:
        raise NotImplementedError

    def renew(self) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        return None


def bump_epoch(conn: sa.Connection, name: str, holder: str) -> int:
    """Raise the lease's epoch and name ``holder`` in it; returns the new epoch. On
    PostgreSQL the UPDATE waits for the share locks of the deposed leader's fenced
    transactions (``loopml.ha.fence``)."""
    now = now_ms()
    lease = t.leader_leases
    row = conn.execute(sa.update(lease).where(lease.c.name == name).values(
        epoch=lease.c.epoch + 1, holder=holder, acquired_time=now, renewed_time=now)
        .returning(lease.c.epoch)).first()
    if row is not None:
        return int(row[0])
    conn.execute(sa.insert(lease).values(name=name, epoch=1, holder=holder,
                                         acquired_time=now, renewed_time=now))
    return 1


class SingleElector(Elector):
    """SQLite: the one process that owns the file leads from the start."""

    def __init__(self, engine: Engine, holder: str | None = None) -> None:
        self.engine = engine
        self.holder = holder or replica_id()
        self.epoch: int | None = None

    def try_acquire(self) -> int | None:
        with self.engine.begin() as conn:
            self.epoch = bump_epoch(conn, self.name, self.holder)
        return self.epoch

    def renew(self) -> bool:
        return True


def elector_for(engine: Engine, holder: str | None = None) -> Elector:
    """The elector for the metadata store behind ``engine``."""
    if engine.dialect.name == "postgresql":
        from loopml.ha._postgres import PostgresElector

        return PostgresElector(engine, holder)
    return SingleElector(engine, holder)


__all__ = ["Elector", "SingleElector", "bump_epoch", "elector_for", "replica_id"]
