"""Deployments in the tracking database (table ``deployments``, migration 0003)."""

from __future__ import annotations

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from loopml.entities import Deployment, TrafficRoute
from loopml.errors import ResourceAlreadyExists, ResourceDoesNotExist
from loopml.security import quotas
from loopml.security.workspaces import creating_workspace, name_workspace, scoped
from loopml.store import _schema as t
from loopml.store._sql_base import SqlBase
from loopml.store._sql_util import now_ms
from loopml.store.deployments_base import (
    DeploymentStore,
    check_models_exist,
    validate_env,
    validate_replicas,
    validate_spec,
)

_D = t.deployments.c


def _row(r: sa.Row) -> Deployment:  # type: ignore[type-arg]
    d = orjson.loads(r.spec)
    return Deployment.from_dict({**d, "name": r.name, "revision": r.revision,
                                 "creation_timestamp": r.creation_time,
                                 "last_updated_timestamp": r.last_updated_time,
                                 "replicas": r.replicas, "workspace": r.workspace})


class SqlDeploymentStore(SqlBase, DeploymentStore):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_deployment(self, name: str, routes: list[TrafficRoute], shadow: list[str] | None = None,
                          sticky_header: str | None = None, replicas: int = 1,
                          env: dict[str, str] | None = None) -> Deployment:
        validate_spec(name, routes, shadow or [], sticky_header)
        replicas, env = validate_replicas(name, replicas), validate_env(name, env)
        self._check_exist(name, [r.model_uri for r in routes] + list(shadow or []))
        d = Deployment(name, tuple(routes), tuple(shadow or []), sticky_header,
                       replicas=replicas, env=env)
        now = now_ms()
        ws = creating_workspace()
        with self._tx() as conn:
            if conn.execute(sa.select(_D.name).where(_D.workspace == ws,
                                                     _D.name == name)).first():
                raise ResourceAlreadyExists(
                    f"Deployment {name!r} already exists; change it with update.")
            quotas.enforce(conn, ws, "deployments")  # before the insert: a refusal writes
            quotas.enforce(conn, ws, "replicas", replicas)  # nothing
            conn.execute(sa.insert(t.deployments).values(
                name=name, spec=orjson.dumps(d.spec()).decode(), revision=1,
                creation_time=now, last_updated_time=now, workspace=ws, replicas=replicas))
            self._event(conn, "deployment.updated", name, {"revision": 1, **d.spec()}, ws)
        return self._get(ws, name)

    def _check_exist(self, name: str, uris: list[str]) -> None:
        from loopml.store.registry_sql import SqlRegistryStore

        check_models_exist(SqlRegistryStore(self.engine), f"Deployment {name!r}", uris)

    def update_deployment(self, name: str, routes: list[TrafficRoute] | None = None,
                          shadow: list[str] | None = None,
                          sticky_header: str | None = None, replicas: int | None = None,
                          env: dict[str, str] | None = None) -> Deployment:
        if replicas is not None:
            validate_replicas(name, replicas)
        if env is not None:
            validate_env(name, env)
        self._check_exist(name, [r.model_uri for r in routes or []] + list(shadow or []))
        with self._tx() as conn:
            ws = name_workspace(conn, t.deployments, name)
            key = (_D.workspace == ws, _D.name == name)  # names are unique per workspace
            row = conn.execute(sa.select(t.deployments).where(*key).with_for_update()).first()
            if row is None:
                raise ResourceDoesNotExist(f"Deployment {name!r} does not exist.")
            cur = _row(row)
            new = Deployment(name, tuple(routes) if routes is not None else cur.routes,
                             tuple(shadow) if shadow is not None else cur.shadow,
                             sticky_header if sticky_header is not None else cur.sticky_header,
                             replicas=cur.replicas if replicas is None else replicas,
                             env=cur.env if env is None else env)
            validate_spec(name, list(new.routes), list(new.shadow), new.sticky_header)
            # Only the replicas added count; scaling down always passes.
            quotas.enforce(conn, ws, "replicas", new.replicas - cur.replicas)
            rev = cur.revision + 1
            conn.execute(sa.update(t.deployments).where(*key).values(
                spec=orjson.dumps(new.spec()).decode(), revision=rev,
                last_updated_time=now_ms(), replicas=new.replicas))
            self._event(conn, "deployment.updated", name, {"revision": rev, **new.spec()}, ws)
        return self._get(ws, name)

    def get_deployment(self, name: str) -> Deployment:
        return self._get(None, name)

    def _get(self, ws: str | None, name: str) -> Deployment:
        with self._read() as conn:
            ws = ws or name_workspace(conn, t.deployments, name)
            row = conn.execute(sa.select(t.deployments).where(
                _D.workspace == ws, _D.name == name)).first()
        if row is None:
            raise ResourceDoesNotExist(f"Deployment {name!r} does not exist.")
        return _row(row)

    def list_deployments(self) -> list[Deployment]:
        with self._read() as conn:
            rows = conn.execute(scoped(sa.select(t.deployments), _D.workspace)
                                .order_by(_D.name)).all()
        return [_row(r) for r in rows]

    def delete_deployment(self, name: str) -> None:
        with self._tx() as conn:
            ws = name_workspace(conn, t.deployments, name)
            if conn.execute(sa.delete(t.deployments).where(
                    _D.workspace == ws, _D.name == name)).rowcount == 0:
                raise ResourceDoesNotExist(f"Deployment {name!r} does not exist.")
            self._event(conn, "deployment.deleted", name, {}, ws)
