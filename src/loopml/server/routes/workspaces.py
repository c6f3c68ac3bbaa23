"""Workspaces over MLflow's workspace REST API (``/api/3.0/mlflow/workspaces``, what
``mlflow.create_workspace``/``list_workspaces``/... call), and per-workspace quotas under
``/api/loopml/v1/workspaces/{name}/quotas``.

Reading workspaces is READ; creating, changing and deleting them and setting quotas is ADMIN.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from loopml.errors import InvalidParameterValue
from loopml.security import Permission as P
from loopml.security import PermissionedRoute, quotas, route
from loopml.security._workspaces_sql import SqlWorkspaceStore
from loopml.security.workspaces import check_workspace_name
from loopml.server._http import Body, JSONResponse, read_json
from loopml.server.services import Services

_MLFLOW = ("/api/3.0/mlflow/workspaces", "/ajax-api/3.0/mlflow/workspaces")
_QUOTAS = "/api/loopml/v1/workspaces/{name}/quotas"
Fn = Callable[[Body], Any]


def _engine(s: Services) -> Any:
    engine = getattr(s.store, "engine", None)
    if engine is None:
        raise InvalidParameterValue("Workspaces need a SQL metadata store behind the server.")
    return engine


def routes(s: Services) -> list[PermissionedRoute]:
    def store() -> SqlWorkspaceStore:
        return SqlWorkspaceStore(_engine(s))

    def handler(fn: Fn, status: int = 200) -> Any:
        async def h(request: Request) -> Response:
            body = await read_json(request, s.max_body_bytes, "workspaces")
            body.data.update(request.path_params)
            for k, v in request.query_params.items():  # DELETE ...?mode=SET_DEFAULT
                body.data.setdefault(k, v)
            out = await run_in_threadpool(fn, body)
            if status == 204:
                return Response(status_code=204)
            return JSONResponse(out, status_code=status)
        return h

    def list_(b: Body) -> dict[str, Any]:
        return {"workspaces": [w.to_dict() for w in store().list()]}

    def get(b: Body) -> dict[str, Any]:
        return {"workspace": store().get(b.req_text("name")).to_dict()}

    def create(b: Body) -> dict[str, Any]:
        ws = store().create(b.req_text("name"), b.text("description"),
                            b.text("default_artifact_root"))
        return {"workspace": ws.to_dict()}

    def update(b: Body) -> dict[str, Any]:
        ws = store().update(b.req_text("name"), b.text("description"),
                            b.text("default_artifact_root"))
        return {"workspace": ws.to_dict()}

    def delete(b: Body) -> None:
        store().delete(b.req_text("name"), b.text("mode") or "RESTRICT")
        if s.entity_scope is not None:  # SET_DEFAULT moved its runs to default
            s.entity_scope.invalidate()

    def get_quotas(b: Body) -> dict[str, Any]:
        name = check_workspace_name(b.req_text("name"))
        with _engine(s).connect() as conn:
            return {"workspace": name, "quotas": quotas.report(conn, name)}

    def set_quotas(b: Body) -> dict[str, Any]:
        name = check_workspace_name(b.req_text("name"))
        limits = b.data.get("quotas")
        if not isinstance(limits, dict):
            raise InvalidParameterValue(
                f"The body of {b.where} needs 'quotas': an object {{quota: limit or null}}; "
                f"quotas: {', '.join(quotas.QUOTAS)}.")
        store().get(name)  # 404 for an unknown workspace
        quotas.set_limits(_engine(s), name, limits)
        return get_quotas(b)

    out: list[PermissionedRoute] = []
    for base in _MLFLOW:
        one = base + "/{name}"
        out += [
            route(base, handler(list_), ["GET"], P.READ, s.auth),
            route(base, handler(create, 201), ["POST"], P.ADMIN, s.auth),
            route(one, handler(get), ["GET"], P.READ, s.auth),
            route(one, handler(update), ["PATCH"], P.ADMIN, s.auth),
            route(one, handler(delete, 204), ["DELETE"], P.ADMIN, s.auth),
        ]
    out += [
        route(_QUOTAS, handler(get_quotas), ["GET"], P.READ, s.auth),
        route(_QUOTAS, handler(set_quotas), ["PUT"], P.ADMIN, s.auth),
    ]
    return out

__all__ = ["routes"]
