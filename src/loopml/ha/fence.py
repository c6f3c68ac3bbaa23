"""Fencing: a deposed leader's in-flight work must not commit after the next leader began.

The leader's background work writes through engines of its own; ``install_fence(engine,
epoch)`` makes every write transaction on such an engine start with

    SELECT epoch FROM leader_leases WHERE name = :name FOR SHARE

and abort (``Deposed``) unless the epoch is still the one this leader was elected with.
The share lock is held until the transaction ends, and a new leader raises the epoch with an
UPDATE of that row, which waits for those locks: so each of the old leader's transactions
either commits before the new leader starts (which then reads its effects, and the stores'
compare-and-set steps see them) or fails the check. This is the fencing token of
Kleppmann, "How to do distributed locking" (2016), kept in the database the writes go to.
On SQLite there is one process and no fence (``FOR SHARE`` does not exist there).
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.errors import InvalidState

LEASE = "control-plane"  # the one lease name the control plane elects its leader on


class Deposed(InvalidState):
    """This process lost the leadership: its background work must stop, not write."""


def _check(name: str, epoch: int, conn: Connection) -> None:
    if conn.get_execution_options().get("loopml_readonly"):
        return  # reads need no fence: only commits can repeat work
    current = conn.exec_driver_sql(
        "SELECT epoch FROM leader_leases WHERE name = %(name)s FOR SHARE",
        {"name": name}).scalar()
    if current != epoch:
        raise Deposed(f"This replica led the control plane in epoch {epoch}; the lease is "
                      f"now at epoch {current}: another replica leads, this write is refused.")


def install_fence(engine: Engine, epoch: int, name: str = LEASE) -> None:
    """Fence every write transaction on ``engine`` (PostgreSQL) with ``epoch``; no-op on
    other databases. Use it only on engines that the leader's background work owns."""
    if engine.dialect.name != "postgresql":
        return
    sa.event.listen(engine, "begin", functools.partial(_check, name, epoch))


__all__ = ["LEASE", "Deposed", "install_fence"]
