"""The workspace registry in the metadata store (table ``workspaces``, migration 0011).

``default`` always exists; it has a row only once it was given a description or an
artifact root. Deleting a workspace follows MLflow's modes: ``RESTRICT`` (the default)
refuses while anything is left in it, ``SET_DEFAULT`` moves what is left to ``default``;
``CASCADE`` is refused (deleting experiments needs their artifacts purged: delete them
first, then the workspace).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.errors import (
    InvalidParameterValue,
    InvalidState,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from loopml.security.workspaces import (
    DEFAULT_WORKSPACE,
    Workspace,
    check_artifact_root,
    check_workspace_name,
)
from loopml.store import _schema as t
from loopml.store._sql_util import now_ms

_W = t.workspaces.c
# Every table whose rows belong to a workspace, with the column that names what a row is.
SCOPED: tuple[tuple[sa.Table, str], ...] = (
    (t.experiments, "name"), (t.registered_models, "name"), (t.deployments, "name"),
    (t.pipeline_runs, "run_id"), (t.pipeline_triggers, "name"), (t.loops, "loop_id"),
    (t.dataset_names, "name"), (t.monitor_results, "monitor"), (t.alert_states, "monitor"),
    (t.loop_active, "model"),
)
# Bookkeeping that moves along on SET_DEFAULT without counting as content (the registries'
# child tables follow their parents through ON UPDATE CASCADE), and what is dropped
# instead (a cache, and cursors of consumers bound to the deleted workspace).
_MOVED = (t.loop_audit, t.feedback)
_DROPPED = (t.step_cache, t.consumer_cursors)
MODES = ("RESTRICT", "SET_DEFAULT", "CASCADE")


def _row(r: Any) -> Workspace:
    return Workspace(r[0], r[1], r[2], r[3])


class SqlWorkspaceStore:
    """Workspaces in ``engine``'s database. Errors: ``ResourceDoesNotExist`` (404),
    ``ResourceAlreadyExists`` and ``InvalidParameterValue``/``InvalidState`` (400)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _get(self, conn: Connection, name: str) -> Workspace | None:
        r = conn.execute(sa.select(_W.name, _W.description, _W.artifact_root,
                                   _W.creation_time).where(_W.name == name)).first()
        if r is not None:
            return _row(r)
        return Workspace(DEFAULT_WORKSPACE) if name == DEFAULT_WORKSPACE else None

    def get(self, name: str) -> Workspace:
        check_workspace_name(name)
        with self.engine.connect() as conn:
            ws = self._get(conn, name)
        if ws is None:
            raise ResourceDoesNotExist(f"No workspace {name!r}. Create it with `loopml "
                                       f"workspaces create {name}`.")
        return ws

    def exists(self, name: str) -> bool:
        with self.engine.connect() as conn:
            return self._get(conn, name) is not None

    def list(self) -> list[Workspace]:
        with self.engine.connect() as conn:
            rows = [_row(r) for r in conn.execute(sa.select(
                _W.name, _W.description, _W.artifact_root, _W.creation_time).order_by(_W.name))]
        if not any(w.name == DEFAULT_WORKSPACE for w in rows):
            rows.insert(0, Workspace(DEFAULT_WORKSPACE))
        return rows

    def create(self, name: str, description: str | None = None,
               artifact_root: str | None = None) -> Workspace:
        check_workspace_name(name)
        check_artifact_root(artifact_root)
        now = now_ms()
        with self.engine.begin() as conn:
            if self._get(conn, name) is not None:
                raise ResourceAlreadyExists(f"Workspace {name!r} already exists.")
            conn.execute(sa.insert(t.workspaces).values(
                name=name, description=description, artifact_root=artifact_root or None,
                creation_time=now, last_updated_time=now))
        return Workspace(name, description, artifact_root or None, now)

    def update(self, name: str, description: str | None = None,
               artifact_root: str | None = None) -> Workspace:
        """Change what is given (None keeps it; an empty ``artifact_root`` clears it)."""
        check_artifact_root(artifact_root)
        now = now_ms()
        with self.engine.begin() as conn:
            ws = self._get(conn, check_workspace_name(name))
            if ws is None:
                raise ResourceDoesNotExist(f"No workspace {name!r}.")
            desc = ws.description if description is None else description
            root = ws.artifact_root if artifact_root is None else (artifact_root or None)
            if ws.creation_time is None:  # default, first given a row now
                conn.execute(sa.insert(t.workspaces).values(
                    name=name, description=desc, artifact_root=root, creation_time=now,
                    last_updated_time=now))
            else:
                conn.execute(sa.update(t.workspaces).where(_W.name == name).values(
                    description=desc, artifact_root=root, last_updated_time=now))
        return Workspace(name, desc, root, ws.creation_time or now)

    def usage(self, conn: Connection, name: str) -> dict[str, int]:
        """How many rows of each scoped table belong to ``name`` (only the non-zero)."""
        out = {}
        for table, _ in SCOPED:
            n = conn.execute(sa.select(sa.func.count()).select_from(table).where(
                table.c.workspace == name)).scalar()
            if n:
                out[table.name] = int(n)
        return out

    @staticmethod
    def _move_to_default(conn: Connection, name: str) -> None:
        """SET_DEFAULT: what ``name`` holds moves to ``default``. Names are unique per
        workspace, so a name ``default`` already uses is refused (``InvalidState``) before
        anything moves."""
        for table, column in SCOPED:
            if column != "name":
                continue
            mine = sa.select(table.c.name).where(table.c.workspace == name)
            clash = sorted(str(r[0]) for r in conn.execute(sa.select(table.c.name).where(
                table.c.workspace == DEFAULT_WORKSPACE, table.c.name.in_(mine)).limit(5)))
            if clash:
                raise InvalidState(
                    f"Cannot move workspace {name!r} into 'default': {table.name} "
                    f"{', '.join(clash)} exist in both. Rename or delete them first.")
        for table in (*(tb for tb, _ in SCOPED), *_MOVED):
            conn.execute(sa.update(table).where(table.c.workspace == name)
                         .values(workspace=DEFAULT_WORKSPACE))
        for table in _DROPPED:
            conn.execute(sa.delete(table).where(table.c.workspace == name))

    def delete(self, name: str, mode: str = "RESTRICT") -> None:
        check_workspace_name(name)
        if name == DEFAULT_WORKSPACE:
            raise InvalidParameterValue("The default workspace cannot be deleted.")
        if mode not in MODES:
            raise InvalidParameterValue(f"Deletion mode {mode!r}: use one of {', '.join(MODES)}.")
        if mode == "CASCADE":
            raise InvalidParameterValue(
                "CASCADE deletion is not supported: delete the workspace's experiments, models "
                "and deployments first (their artifacts need purging), or use SET_DEFAULT.")
        with self.engine.begin() as conn:
            if self._get(conn, name) is None:
                raise ResourceDoesNotExist(f"No workspace {name!r}.")
            left = self.usage(conn, name)
            if left and mode == "RESTRICT":
                what = ", ".join(f"{n} {k}" for k, n in left.items())
                raise InvalidState(
                    f"Workspace {name!r} still holds {what}. Delete them first, or delete "
                    "with mode SET_DEFAULT to move them to the default workspace.")
            self._move_to_default(conn, name)
            for table in (t.workspace_quotas, t.secrets, t.secret_grants):
                conn.execute(sa.delete(table).where(table.c.workspace == name))
            conn.execute(sa.delete(t.workspaces).where(_W.name == name))
