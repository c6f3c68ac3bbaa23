"""``/api/loopml/v1/secrets``: the secrets store of the request's workspace.

Listing, writing, rotating, deleting and granting are ADMIN routes, and no listing ever
holds a value. Reading a value (``GET .../secrets/{name}/value``) is declared READ and then
decided per secret (``security._secrets_access.may_read``): an admin of the workspace, or a
service account the secret was granted to. Answers that hold a value are ``no-store``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from loopml.errors import PermissionDenied
from loopml.security import Permission as P
from loopml.security import PermissionedRoute, principal_of, route
from loopml.security import _secrets_access as access
from loopml.security.audit import record_decision
from loopml.security.secrets import SecretBackend, check_name, get_secret_backend
from loopml.security.workspaces import workspace_of
from loopml.server._http import Body, JSONResponse, read_json
from loopml.server.services import Services

_BASE = "/api/loopml/v1/secrets"
Fn = Callable[[Request, Body, str], dict[str, Any]]


def routes(s: Services) -> list[PermissionedRoute]:
    cache: list[SecretBackend] = []

    def backend() -> SecretBackend:
        # Built at first use: a server whose operator never configured a key still starts,
        # and the secrets routes say what to set (InvalidConfig, a 400).
        if s.secrets is not None:
            return s.secrets  # type: ignore[no-any-return]
        if not cache:
            cache.append(get_secret_backend(engine=getattr(s.store, "engine", None)))
        return cache[0]

    def engine() -> Any:
        eng = getattr(s.store, "engine", None) or getattr(backend(), "engine", None)
        if eng is None:
            raise PermissionDenied("Secret grants need a SQL metadata store.")
        return eng

    def handler(fn: Fn, no_store: bool = False) -> Any:
        async def h(request: Request) -> Response:
            body = await read_json(request, s.max_body_bytes, "secrets")
            body.data.update(request.path_params)
            ws = workspace_of(request)
            out = await run_in_threadpool(fn, request, body, ws)
            resp = JSONResponse(out)
            if no_store:
                resp.headers["Cache-Control"] = "no-store"
            return resp
        return h

    def list_(_: Request, b: Body, ws: str) -> dict[str, Any]:
        return {"workspace": ws, "secrets": [
            {"name": i.name, "version": i.version, "created_time": i.created_time}
            for i in backend().list_names(ws)]}

    def put(_: Request, b: Body, ws: str) -> dict[str, Any]:
        name, value = check_name(b.req_text("name")), b.req_text("value")
        return {"name": name, "workspace": ws, "version": backend().put(name, value, ws)}

    def rotate(_: Request, b: Body, ws: str) -> dict[str, Any]:
        name, value = check_name(b.req_text("name")), b.req_text("value")
        return {"name": name, "workspace": ws, "version": backend().rotate(name, value, ws)}

    def delete(_: Request, b: Body, ws: str) -> dict[str, Any]:
        backend().delete(check_name(b.req_text("name")), ws)
        return {}

    def reveal(request: Request, b: Body, ws: str) -> dict[str, Any]:
        name = check_name(b.req_text("name"))
        who = principal_of(request)
        allowed = access.may_read(engine(), who, name, ws)
        # Every read of a value is a security decision (audit trail), allowed or not.
        record_decision(request, "secret.read", "allow" if allowed else "deny",
                        workspace=ws, target=name)
        if not allowed:
            raise PermissionDenied(
                f"{who.subject} may not read secret {name!r} in workspace {ws!r}: only its "
                "admins and the service accounts it is granted to may (an admin grants it "
                f"with `loopml secrets grant {name} SERVICE_ACCOUNT`).")
        sv = backend().get(name, ws, b.integer("version"))
        return {"name": sv.name, "workspace": ws, "version": sv.version, "value": sv.value}

    def grants(_: Request, b: Body, ws: str) -> dict[str, Any]:
        return {"grants": access.grantees(engine(), check_name(b.req_text("name")), ws)}

    def grant(_: Request, b: Body, ws: str) -> dict[str, Any]:
        access.grant(engine(), check_name(b.req_text("name")), b.req_text("subject"), ws)
        return {}

    def revoke(_: Request, b: Body, ws: str) -> dict[str, Any]:
        access.revoke(engine(), check_name(b.req_text("name")), b.req_text("subject"), ws)
        return {}

    one = _BASE + "/{name}"
    return [
        route(_BASE, handler(list_), ["GET"], P.ADMIN, s.auth),
        route(_BASE, handler(put), ["POST"], P.ADMIN, s.auth),
        route(one + "/rotate", handler(rotate), ["POST"], P.ADMIN, s.auth),
        route(one, handler(delete), ["DELETE"], P.ADMIN, s.auth),
        route(one + "/value", handler(reveal, no_store=True), ["GET"], P.READ, s.auth),
        route(one + "/grants", handler(grants), ["GET"], P.ADMIN, s.auth),
        route(one + "/grants", handler(grant), ["POST"], P.ADMIN, s.auth),
        route(one + "/grants/{subject}", handler(revoke), ["DELETE"], P.ADMIN, s.auth),
    ]

__all__ = ["routes"]
