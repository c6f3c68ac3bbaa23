"""What every SQL-backed store shares: its transactions and the outbox event append.

Writers use ``_tx`` (BEGIN IMMEDIATE on SQLite, see _engine); readers use ``_read``, marked
read-only so that on SQLite they begin without taking the write lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.security.actor import current_actor
from loopml.security.workspaces import creating_workspace
from loopml.store import _schema as t
from loopml.store._sql_util import Prepared, now_ms

_INSERT_EVENT = Prepared(sa.insert(t.events),
                         columns=["type", "subject", "payload", "time", "workspace", "actor",
                                  "actor_kind"])


class SqlBase:
    engine: Engine

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        # Begun up front: reads through Prepared (the driver's cursor) would otherwise run
        # each statement in its own snapshot on SQLite, and a page could mix two states.
        with (
            self.engine.connect().execution_options(loopml_readonly=True) as conn,
            conn.begin(),
        ):
            yield conn

    def _event(
        self, conn: Connection, type: str, subject: str, payload: dict[str, Any] | None = None,
        workspace: str | None = None,
    ) -> None:
        """Append an event in ``conn``'s transaction, stamped with ``workspace`` (the
        entity's; None: the one things are created in) and the acting principal."""
        actor, kind = current_actor()
        _INSERT_EVENT.execute_many(conn, [
            {"type": type, "subject": subject, "payload": orjson.dumps(payload or {}).decode(),
             "time": now_ms(), "workspace": workspace or creating_workspace(), "actor": actor,
             "actor_kind": kind},
        ])
