"""PostgreSQL leader election: a session-level advisory lock on a dedicated connection.

Why the lock and not a lease row with an expiry (docs/ha.md): PostgreSQL releases a session
lock the moment the session ends (process killed, connection closed, backend terminated,
TCP keepalive timing out), so failover after ``kill -9`` takes one follower poll, with no
lease duration to wait out and no assumption about the replicas' clocks. What a lock alone
cannot give, that the old leader notices its loss before anyone else acts, the epoch of
``leader_leases`` gives (``loopml.ha.fence``): the new leader raises it, which waits for
the old leader's fenced transactions, and after which they all fail.

The new leader also waits ``grace_s`` between taking the lock and raising the epoch, so an
old leader that lost its connection normally stops on its own (its next ``renew`` fails)
before the fence has to refuse anything.
"""

from __future__ import annotations

import logging
import os
import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from loopml.ha.election import Elector, bump_epoch, now_ms, replica_id
from loopml.store import _schema as t

log = logging.getLogger("loopml.ha")

# The advisory lock key (bigint) for the control plane's leadership; < 2**31 so that
# pg_locks shows it as objid with classid 0. Migrations lock 7355608.
LOCK_KEY = 7355609
# libpq keepalives: a leader whose network to the database is cut loses the session (and so
# the lock) on the server side within about idle + interval * count seconds, and sees its
# own socket fail within tcp_user_timeout.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
              "keepalives_count": 3, "tcp_user_timeout": 10_000, "connect_timeout": 5}


class PostgresElector(Elector):
    """``engine``: the metadata store's engine (its URL, password included, is reused for
    one dedicated connection outside the pool). ``grace_s``: wait after taking the lock."""

    def __init__(self, engine: Engine, holder: str | None = None, grace_s: float = 2.0) -> None:
        self.holder = holder or replica_id()
        self.grace_s = grace_s
        self.epoch: int | None = None
        self._engine = sa.create_engine(engine.url, poolclass=NullPool, connect_args=KEEPALIVES)
        self._conn: Connection | None = None

    def _connection(self) -> Connection:
        if self._conn is None:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("SET statement_timeout = '5s'")
            # names the process, so an operator (or a test) can find this session
            conn.exec_driver_sql(f"SET application_name = 'loopml-leader {os.getpid()}'")
            self._conn = conn
        return self._conn

    def try_acquire(self) -> int | None:
        try:
            conn = self._connection()
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"),
                               {"k": LOCK_KEY}).scalar()
            if not got:
                return None
            time.sleep(self.grace_s)  # let a leader that lost its session notice first
            self.epoch = bump_epoch(conn, self.name, self.holder)
            return self.epoch
        except Exception as e:
            log.warning("leader election: cannot reach the database (%s: %s); retrying",
                        type(e).__name__, e)
            self._drop()
            return None

    def renew(self) -> bool:
        """Still the leader: the session (and so the lock) is alive and the lease still has
        this replica's epoch. False on any error: stepping down is always safe."""
        if self._conn is None or self.epoch is None:
            return False
        lease = t.leader_leases
        try:
            n = self._conn.execute(sa.update(lease).where(
                lease.c.name == self.name, lease.c.epoch == self.epoch,
                lease.c.holder == self.holder).values(renewed_time=now_ms())).rowcount
        except Exception as e:
            log.warning("leader election: lost the database session (%s: %s)",
                        type(e).__name__, e)
            self._drop()
            return False
        return n == 1

    def _drop(self) -> None:
        conn, self._conn, self.epoch = self._conn, None, None
        if conn is not None:
            try:
                conn.invalidate()  # a dead session: do not return it anywhere
                conn.close()
            except Exception:  # noqa: S110 - closing a broken connection may fail; it is gone
                pass

    def release(self) -> None:
        self._drop()  # closing the session releases the advisory lock
        self._engine.dispose()


def lock_held(conn: Connection) -> bool:
    """Whether any session holds the control plane's lock now (for ``/health/leader``)."""
    return bool(conn.execute(sa.text(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 "
        "AND objid = :k AND objsubid = 1 AND granted AND database = (SELECT oid FROM "
        "pg_database WHERE datname = current_database()))"), {"k": LOCK_KEY}).scalar())
