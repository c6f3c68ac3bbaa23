"""Feedback and monitor results (migration 0004) and alert states (0008) in the tracking
database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from loopml.security.workspaces import creating_workspace, name_workspace
from loopml.store import _schema as t
from loopml.store._sql_base import SqlBase
from loopml.store._sql_util import now_ms
from loopml.store.monitoring_base import (
    AlertState,
    AlertTransition,
    MonitoringStore,
    WindowResult,
    validate_alert_key,
    validate_feedback,
)

_F, _M, _S = t.feedback.c, t.monitor_results.c, t.alert_states.c


class SqlMonitoringStore(SqlBase, MonitoringStore):
    """Results and alert states are per workspace (migration 0013): written to the one
    things are created in, read from the current one (while every workspace is bound, the
    one holding that monitor name)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _ws(self, conn: Any, monitor: str, table: sa.Table) -> str:
        return name_workspace(conn, table, monitor, "monitor")

    def log_feedback(self, items: Sequence[tuple[str, Any]]) -> int:
        validate_feedback(items)
        latest = dict(items)  # the last label for a request id in one batch wins
        now = now_ms()
        with self._tx() as conn:
            conn.execute(sa.delete(t.feedback).where(_F.request_id.in_(list(latest))))
            conn.execute(sa.insert(t.feedback), [
                {"request_id": k, "label": orjson.dumps(v).decode(), "time": now,
                 "workspace": creating_workspace()}
                for k, v in latest.items()])
            self._event(conn, "feedback.logged", "feedback", {"count": len(latest)})
        return len(latest)

    def get_feedback(self, request_ids: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        ids = list(request_ids)
        with self._read() as conn:
            for i in range(0, len(ids), 900):  # stay under SQLite's bound-parameter limit
                for r in conn.execute(sa.select(_F.request_id, _F.label)
                                      .where(_F.request_id.in_(ids[i:i + 900]))):
                    out[r.request_id] = orjson.loads(r.label)
        return out

    def put_result(self, result: WindowResult) -> bool:
        ws = creating_workspace()
        with self._tx() as conn:
            exists = conn.execute(sa.select(_M.window_start).where(
                _M.workspace == ws, _M.monitor == result.monitor,
                _M.window_start == result.window_start)).first()
            if exists:
                return False
            conn.execute(sa.insert(t.monitor_results).values(
                workspace=ws, monitor=result.monitor, window_start=result.window_start,
                window_end=result.window_end, metrics=orjson.dumps(result.metrics).decode(),
                details=orjson.dumps(result.details).decode(), created_time=now_ms()))
            self._event(conn, "monitor.window", result.monitor,
                        {"window_start": result.window_start, "metrics": result.metrics})
        return True

    def results(self, monitor: str, since: int = 0, until: int | None = None) -> list[WindowResult]:
        q = sa.select(t.monitor_results).where(_M.monitor == monitor, _M.window_start >= since)
        if until is not None:
            q = q.where(_M.window_start < until)
        with self._read() as conn:
            q = q.where(_M.workspace == self._ws(conn, monitor, t.monitor_results))
            rows = conn.execute(q.order_by(_M.window_start)).all()
        return [WindowResult(r.monitor, r.window_start, r.window_end, orjson.loads(r.metrics),
                             orjson.loads(r.details)) for r in rows]

    def computed_windows(self, monitor: str) -> set[int]:
        with self._read() as conn:
            ws = self._ws(conn, monitor, t.monitor_results)
            return {int(r[0]) for r in conn.execute(
                sa.select(_M.window_start).where(_M.workspace == ws, _M.monitor == monitor))}

    def last_window_end(self, monitor: str) -> int:
        with self._read() as conn:
            ws = self._ws(conn, monitor, t.monitor_results)
            v = conn.execute(sa.select(sa.func.max(_M.window_end)).where(
                _M.workspace == ws, _M.monitor == monitor)).scalar()
        return int(v or 0)

    def alert_states(self, monitor: str) -> dict[tuple[str, str], AlertState]:
        with self._read() as conn:
            ws = self._ws(conn, monitor, t.alert_states)
            rows = conn.execute(sa.select(t.alert_states).where(
                _S.workspace == ws, _S.monitor == monitor)).all()
        return {(r.rule, r.subject): AlertState(int(r.streak), bool(r.firing),
                                                None if r.last_window is None
                                                else int(r.last_window)) for r in rows}

    def put_alert_state(self, monitor: str, rule: str, subject: str, expected: AlertState | None,
                        new: AlertState, event: AlertTransition | None = None) -> bool:
        validate_alert_key(monitor, rule, subject)
        values = {"streak": new.streak, "firing": new.firing, "last_window": new.last_window,
                  "updated_time": now_ms()}
        ws = creating_workspace()
        key = (_S.workspace == ws, _S.monitor == monitor, _S.rule == rule,
               _S.subject == subject)
        with self._tx() as conn:
            if expected is None:
                if conn.execute(sa.select(_S.streak).where(*key)).first() is not None:
                    return False
                conn.execute(sa.insert(t.alert_states).values(
                    workspace=ws, monitor=monitor, rule=rule, subject=subject, **values))
            else:
                same = (_S.last_window.is_(None) if expected.last_window is None
                        else _S.last_window == expected.last_window)
                if conn.execute(sa.update(t.alert_states).where(
                        *key, same, _S.streak == expected.streak,
                        _S.firing == expected.firing).values(**values)).rowcount != 1:
                    return False
            if event is not None:
                self._event(conn, event.type, event.subject, event.payload)
            return True


__all__ = ["SqlMonitoringStore"]
