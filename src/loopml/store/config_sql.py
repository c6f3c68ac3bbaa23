"""Declarative configuration documents without a table of their own (monitor specs, loop
policies, GitOps change requests and settings), in table ``config_objects`` (migration
0018): one row per (kind, name), the spec as JSON. SQL only: a client reaches a server's
through its REST API."""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from loopml.security.workspaces import creating_workspace
from loopml.store import _schema as t
from loopml.store._sql_base import SqlBase
from loopml.store._sql_util import now_ms

_O = t.config_objects.c


class ConfigObjectStore(SqlBase):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def list(self, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
        """``[(name, workspace, spec)]`` of ``kind``, by name (every workspace)."""
        with self._read() as conn:
            rows = conn.execute(sa.select(_O.name, _O.workspace, _O.spec).where(
                _O.kind == kind).order_by(_O.name)).all()
        return [(r.name, r.workspace, orjson.loads(r.spec)) for r in rows]

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        with self._read() as conn:
            v = conn.execute(sa.select(_O.spec).where(_O.kind == kind, _O.name == name)).scalar()
        return orjson.loads(v) if v is not None else None

    def put(self, kind: str, name: str, spec: dict[str, Any], workspace: str | None = None) -> None:
        """Create or replace; appends ``config.<kind>.updated`` in the same transaction."""
        ws = workspace or creating_workspace()
        body = orjson.dumps(spec, option=orjson.OPT_SORT_KEYS).decode()
        with self._tx() as conn:
            n = conn.execute(sa.update(t.config_objects).where(
                _O.kind == kind, _O.name == name).values(spec=body, workspace=ws,
                                                          updated_time=now_ms())).rowcount
            if n == 0:
                conn.execute(sa.insert(t.config_objects).values(
                    kind=kind, name=name, workspace=ws, spec=body, updated_time=now_ms()))
            self._event(conn, f"config.{kind.lower()}.updated", name, {})

    def delete(self, kind: str, name: str) -> bool:
        with self._tx() as conn:
            n = conn.execute(sa.delete(t.config_objects).where(
                _O.kind == kind, _O.name == name)).rowcount
            if n:
                self._event(conn, f"config.{kind.lower()}.deleted", name, {})
        return bool(n)


__all__ = ["ConfigObjectStore"]
