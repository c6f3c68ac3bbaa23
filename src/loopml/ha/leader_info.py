"""What ``GET /health/leader`` answers: which replica leads the control plane."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from loopml.ha.fence import LEASE
from loopml.store import _schema as t


def leader_info(engine: Engine, replica: str | None) -> dict[str, Any]:
    """``{"replica", "leader", "holder", "epoch", "renewed_time", "elected"}``: ``leader``
    is True when this replica (``replica``, from ``LOOPML_REPLICA_ID``) holds the lease;
    ``elected`` is False when no replica leads now (PostgreSQL: nobody holds the lock)."""
    lease = t.leader_leases
    with engine.connect() as conn:
        row = conn.execute(sa.select(lease).where(lease.c.name == LEASE)).first()
        held = True
        if engine.dialect.name == "postgresql":
            from loopml.ha._postgres import lock_held

            held = lock_held(conn)
    elected = row is not None and held
    return {"replica": replica, "leader": bool(elected and row is not None
                                               and row.holder == replica),
            "holder": row.holder if elected and row is not None else None,
            "epoch": int(row.epoch) if row is not None else None,
            "renewed_time": int(row.renewed_time) if row is not None else None,
            "elected": elected}


__all__ = ["leader_info"]
