"""The experiments half of ``SqlStore`` (sql.py holds runs, logged models and events):
create, read, search, rename, delete/restore (with their runs) and tags."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.entities import Experiment, PagedList, ViewType
from loopml.errors import (
    InvalidParameterValue,
    InvalidState,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    invalid_param,
)
from loopml.security.quotas import require_workspace
from loopml.security.workspaces import creating_workspace, name_workspace, scoped
from loopml.store import _schema as t
from loopml.store import _search, _sql_write
from loopml.store._sql_base import SqlBase
from loopml.store._sql_util import (
    check_max_results,
    decode_page_token,
    encode_page_token,
    now_ms,
    validate_key,
    validate_name,
)

_E, _R = t.experiments.c, t.runs.c


def check_within_root(location: str, root: str, workspace: str) -> str:
    """``location`` when it lies under the workspace's artifact ``root`` (same scheme; a
    local path resolved, so ``..`` and symlinks cannot leave it), else
    ``InvalidParameterValue``: an experiment of a workspace with its own root keeps its
    artifacts there, not in another team's root."""
    def split(uri: str) -> tuple[str, str]:
        scheme, sep, rest = uri.partition("://")
        if not sep:
            return "file", os.path.realpath(uri)
        if scheme.lower() == "file":
            return "file", os.path.realpath(rest if rest.startswith("/") else "/" + rest)
        return scheme.lower(), posixpath.normpath("/" + rest).lstrip("/")

    (ls, lp), (rs, rp) = split(location), split(root)
    inside = ls == rs and (lp == rp or lp.startswith(rp.rstrip("/") + "/"))
    if not inside:
        raise InvalidParameterValue(
            f"Artifact location {location!r} is outside the artifact root {root!r} of "
            f"workspace {workspace!r}; leave it out (the experiment then uses the root) or "
            "give a location under the root.")
    return location


class SqlExperiments(SqlBase):
    default_artifact_root: str

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: dict[str, str] | None = None,
        workspace: str | None = None,
    ) -> str:
        """``workspace``: None means the current one (the request's; see
        ``loopml.security.workspaces``); its artifact root, when it has one, replaces the
        store's default root."""
        validate_name(name, "name", "create_experiment")
        now = now_ms()
        workspace = workspace or creating_workspace()
        try:
            with self._tx() as conn:
                require_workspace(conn, workspace)
                own = conn.execute(sa.select(t.workspaces.c.artifact_root).where(
                    t.workspaces.c.name == workspace)).scalar()
                if own and artifact_location:
                    check_within_root(artifact_location, own, workspace)
                root = own or self.default_artifact_root
                if conn.execute(sa.select(_E.experiment_id).where(  # unique per workspace
                        _E.workspace == workspace, _E.name == name)).first():
                    raise ResourceAlreadyExists(
                        f"Experiment {name!r} already exists (it may be deleted: restore it, "
                        "or pick another name)."
                    )
                exp_id = conn.execute(
                    sa.insert(t.experiments)
                    .values(
                        name=name, artifact_location=artifact_location or "",
                        lifecycle_stage="active", creation_time=now, last_update_time=now,
                        workspace=workspace,
                    )
                    .returning(_E.experiment_id)
                ).scalar_one()
                if not artifact_location:
                    conn.execute(
                        sa.update(t.experiments)
                        .where(_E.experiment_id == exp_id)
                        .values(artifact_location=f"{root.rstrip('/')}/{exp_id}")
                    )
                if tags:
                    for k in tags:
                        validate_key(k, "tag key", "create_experiment")
                    conn.execute(
                        sa.insert(t.experiment_tags),
                        [{"experiment_id": exp_id, "key": k, "value": v} for k, v in tags.items()],
                    )
                self._event(conn, "experiment.created", str(exp_id), {"name": name})
        except sa.exc.IntegrityError:
            raise ResourceAlreadyExists(f"Experiment {name!r} already exists.") from None
        return str(exp_id)

    @staticmethod
    def _exp_id(experiment_id: object, where: str) -> int:
        try:
            v = int(str(experiment_id))
        except ValueError:
            raise invalid_param("experiment_id", where, "a decimal integer string", experiment_id) from None
        if not 0 <= v < 2**63:  # the column is a 64-bit integer (SQLite and PostgreSQL)
            raise invalid_param("experiment_id", where, "a non-negative integer below 2**63",
                                experiment_id)
        return v

    def _load_experiments(self, conn: Connection, ids: Sequence[int]) -> list[Experiment]:
        if not ids:
            return []
        rows = {
            r[0]: r
            for r in conn.execute(
                sa.select(
                    _E.experiment_id, _E.name, _E.artifact_location, _E.lifecycle_stage,
                    _E.creation_time, _E.last_update_time, _E.workspace,
                ).where(_E.experiment_id.in_(list(ids)))
            )
        }
        tags: dict[int, dict[str, str]] = {i: {} for i in ids}
        tc = t.experiment_tags.c
        for eid, k, v in conn.execute(
            sa.select(tc.experiment_id, tc.key, tc.value).where(tc.experiment_id.in_(list(ids)))
        ):
            tags[eid][k] = v
        return [
            Experiment(str(r[0]), r[1], r[2], r[3], tags[r[0]], r[4], r[5], r[6])
            for i in ids
            if (r := rows.get(i)) is not None
        ]

    def get_experiment(self, experiment_id: str) -> Experiment:
        eid = self._exp_id(experiment_id, "get_experiment")
        with self._read() as conn:
            exps = self._load_experiments(conn, [eid])
        if not exps:
            raise ResourceDoesNotExist(f"No experiment with id={experiment_id!r}.")
        return exps[0]

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with self._read() as conn:
            ws = name_workspace(conn, t.experiments, name)  # names are unique per workspace
            eid = conn.execute(sa.select(_E.experiment_id).where(
                _E.workspace == ws, _E.name == name)).scalar()
            return self._load_experiments(conn, [eid])[0] if eid is not None else None

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        check_max_results(max_results, "search_experiments")
        offset = decode_page_token(page_token, "search_experiments")
        q = _search.experiments_select(view_type, filter_string, order_by, offset, max_results + 1)
        q = scoped(q, _E.workspace)
        with self._read() as conn:
            ids = list(conn.execute(q).scalars())
            exps = self._load_experiments(conn, ids[:max_results])
        token = encode_page_token(offset + max_results) if len(ids) > max_results else None
        return PagedList(exps, token)

    def _experiment_stage(self, conn: Connection, eid: int) -> str:
        stage = conn.execute(
            sa.select(_E.lifecycle_stage).where(_E.experiment_id == eid)
        ).scalar()
        if stage is None:
            raise ResourceDoesNotExist(f"No experiment with id={eid!r}.")
        return str(stage)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        eid = self._exp_id(experiment_id, "update_experiment")
        validate_name(new_name, "new_name", "update_experiment")
        with self._tx() as conn:
            if self._experiment_stage(conn, eid) != "active":
                raise InvalidState("Cannot rename a deleted experiment. Restore it first.")
            ws = sa.select(_E.workspace).where(_E.experiment_id == eid).scalar_subquery()
            clash = conn.execute(
                sa.select(_E.experiment_id).where(_E.name == new_name, _E.experiment_id != eid,
                                                  _E.workspace == ws)
            ).first()
            if clash:
                raise ResourceAlreadyExists(f"Experiment {new_name!r} already exists.")
            conn.execute(
                sa.update(t.experiments)
                .where(_E.experiment_id == eid)
                .values(name=new_name, last_update_time=now_ms())
            )

    def _set_experiment_stage(self, experiment_id: str, stage: str, where: str) -> None:
        eid = self._exp_id(experiment_id, where)
        now = now_ms()
        with self._tx() as conn:
            self._experiment_stage(conn, eid)
            conn.execute(
                sa.update(t.experiments)
                .where(_E.experiment_id == eid)
                .values(lifecycle_stage=stage, last_update_time=now)
            )
            # MLflow: deleting an experiment deletes its runs; restoring restores them.
            other = "active" if stage == "deleted" else "deleted"
            conn.execute(
                sa.update(t.runs)
                .where(_R.experiment_id == eid, _R.lifecycle_stage == other)
                .values(lifecycle_stage=stage, deleted_time=now if stage == "deleted" else None)
            )

    def delete_experiment(self, experiment_id: str) -> None:
        if str(experiment_id) == "0":
            raise InvalidParameterValue("The Default experiment (id 0) cannot be deleted.")
        self._set_experiment_stage(experiment_id, "deleted", "delete_experiment")

    def restore_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, "active", "restore_experiment")

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        eid = self._exp_id(experiment_id, "set_experiment_tag")
        validate_key(key, "key", "set_experiment_tag")
        with self._tx() as conn:
            if self._experiment_stage(conn, eid) != "active":
                raise InvalidState("Cannot set a tag on a deleted experiment. Restore it first.")
            ins = _sql_write._insert(conn, t.experiment_tags)
            conn.execute(
                ins.on_conflict_do_update(
                    index_elements=[t.experiment_tags.c.experiment_id, t.experiment_tags.c.key],
                    set_={"value": ins.excluded.value},
                ),
                {"experiment_id": eid, "key": key, "value": value},
            )

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        eid = self._exp_id(experiment_id, "delete_experiment_tag")
        tc = t.experiment_tags.c
        with self._tx() as conn:
            self._experiment_stage(conn, eid)
            n = conn.execute(
                sa.delete(t.experiment_tags).where(tc.experiment_id == eid, tc.key == key)
            ).rowcount
            if not n:
                raise ResourceDoesNotExist(f"No tag {key!r} on experiment {experiment_id!r}.")
