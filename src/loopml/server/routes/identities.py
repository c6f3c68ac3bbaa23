"""Users, service accounts, role bindings and API tokens: ``/api/loopml/v1/{users,
service-accounts,identities,tokens}`` (admin), ``/api/loopml/v1/whoami``, and the routes of
MLflow's basic-auth app that ``mlflow.server.auth.client.AuthServiceClient`` calls
(``/api/2.0/mlflow/users/*``, ``/api/3.0/mlflow/users/permissions/*``).

MLflow permissions map onto loopml roles per workspace (loopml has no per-experiment or
per-model grants): READ and USE -> viewer, EDIT -> editor, MANAGE -> admin, NO_PERMISSIONS
removes the binding; ``is_admin`` is the admin role on every workspace (``*``). Reading a
role back, viewer -> READ, editor/deployer/approver -> EDIT, admin -> MANAGE.

Every mutation clears this process's verifier caches, so a revocation here takes effect on
the next request; other processes see it within ``TOKEN_CACHE_TTL_S``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from loopml.errors import InvalidParameterValue, InvalidState, invalid_param
from loopml.security import (
    IdentityKind,
    Permission,
    PermissionedRoute,
    Role,
    request_workspace,
    route,
)
from loopml.security._http import UNAUTHENTICATED
from loopml.security._identities import IdentityService, identity_role_in
from loopml.security._principal import ALL_WORKSPACES, ANONYMOUS
from loopml.server._api import MLFLOW_PREFIXES, SyncFn, api
from loopml.server._http import Body, Handler, JSONResponse
from loopml.server.services import Services
from loopml.store.identities_base import Identity

P = Permission
_PREFIX = ("/api/loopml/v1",)
_MLFLOW_V3 = ("/api/3.0/mlflow", "/ajax-api/3.0/mlflow")

# MLflow permission name -> loopml role (None: remove the binding).
MLFLOW_TO_ROLE: dict[str, Role | None] = {
    "READ": Role.VIEWER, "USE": Role.VIEWER, "EDIT": Role.EDITOR, "MANAGE": Role.ADMIN,
    "NO_PERMISSIONS": None,
}
ROLE_TO_MLFLOW = {Role.VIEWER: "READ", Role.EDITOR: "EDIT", Role.DEPLOYER: "EDIT",
                  Role.APPROVER: "EDIT", Role.ADMIN: "MANAGE"}


def _role(b: Body, name: str = "role") -> Role:
    raw = b.req_text(name)
    try:
        return Role.parse(raw)
    except ValueError as e:
        raise InvalidParameterValue(f"{b.where}: {e}") from None


def identity_service(s: Services) -> IdentityService:
    """The ``IdentityService`` over the server's identity store (the REST routes and the
    dashboard's admin pages both act through it). Raises ``InvalidState`` without one."""
    if s.identities is None:
        raise InvalidState("This server keeps no identities (its metadata store is not SQL).")
    return IdentityService(s.identities)


_service = identity_service


def _mlflow_user(i: Identity) -> dict[str, Any]:
    return {"id": i.identity_id, "username": i.name,
            "is_admin": i.roles.get(ALL_WORKSPACES) == Role.ADMIN,
            "experiment_permissions": [], "registered_model_permissions": []}


def routes(s: Services) -> list[PermissionedRoute]:
    return [*_loopml_routes(s), *_mlflow_routes(s)]


def _loopml_routes(s: Services) -> list[PermissionedRoute]:
    def changed(fn: SyncFn) -> SyncFn:
        def run(b: Body) -> dict[str, Any]:
            out = fn(b)
            s.auth.invalidate()
            return out
        return run

    def list_kind(kind: IdentityKind) -> SyncFn:
        def run(b: Body) -> dict[str, Any]:
            svc = _service(s)
            return {"identities": [i.to_dict() for i in svc.store.list_identities(kind)]}
        return run

    def create_user(b: Body) -> dict[str, Any]:
        i = _service(s).create_user(b.req_text("name"), b.text("password"),
                                    b.text("description") or "", caller=b.caller)
        return {"identity": i.to_dict()}

    def create_sa(b: Body) -> dict[str, Any]:
        i = _service(s).create_service_account(b.req_text("name"), b.text("description") or "",
                                               caller=b.caller)
        return {"identity": i.to_dict()}

    def delete(kind: IdentityKind) -> SyncFn:
        def run(b: Body) -> dict[str, Any]:
            _service(s).delete(b.req_text("name"), kind, caller=b.caller)
            return {}
        return run

    def set_password(b: Body) -> dict[str, Any]:
        _service(s).set_password(b.req_text("name"), b.req_text("password"), caller=b.caller)
        return {}

    def grant(b: Body) -> dict[str, Any]:
        i = _service(s).grant(b.req_text("name"), b.req_text("workspace"), _role(b),
                              caller=b.caller)
        return {"identity": i.to_dict()}

    def revoke(b: Body) -> dict[str, Any]:
        i = _service(s).revoke(b.req_text("name"), b.req_text("workspace"), caller=b.caller)
        return {"identity": i.to_dict()}

    def list_tokens(b: Body) -> dict[str, Any]:
        return {"tokens": [t.to_dict() for t in
                           _service(s).list_tokens(b.text("owner"), caller=b.caller)]}

    def create_token(b: Body) -> dict[str, Any]:
        role = _role(b) if b.data.get("role") is not None else None
        out = _service(s).issue_token(b.req_text("owner"), b.text("workspace") or b.workspace,
                                      role, b.integer("expires_in_s"), b.text("name") or "",
                                      caller=b.caller)
        return {"token": out.token, "token_info": out.record.to_dict()}

    def revoke_token(b: Body) -> dict[str, Any]:
        return {"token_info": _service(s).revoke_token(b.req_text("token_id"),
                                                       caller=b.caller).to_dict()}

    def rotate_token(b: Body) -> dict[str, Any]:
        out = _service(s).rotate_token(b.req_text("token_id"), b.integer("expires_in_s"),
                                       caller=b.caller)
        return {"token": out.token, "token_info": out.record.to_dict()}

    table: list[tuple[str, str, Permission, Callable[[Body], dict[str, Any]]]] = [
        ("/users", "GET", P.ADMIN, list_kind(IdentityKind.USER)),
        ("/users", "POST", P.ADMIN, changed(create_user)),
        ("/users/{name}", "DELETE", P.ADMIN, changed(delete(IdentityKind.USER))),
        # READ: a user's own password and tokens are theirs to manage (IdentityService
        # checks self-service or admin); everything else needs admin.
        ("/users/{name}/password", "POST", P.READ, changed(set_password)),
        ("/service-accounts", "GET", P.ADMIN, list_kind(IdentityKind.SERVICE_ACCOUNT)),
        ("/service-accounts", "POST", P.ADMIN, changed(create_sa)),
        ("/service-accounts/{name}", "DELETE", P.ADMIN,
         changed(delete(IdentityKind.SERVICE_ACCOUNT))),
        ("/identities/{name}/roles", "POST", P.ADMIN, changed(grant)),
        ("/identities/{name}/roles", "DELETE", P.ADMIN, changed(revoke)),
        ("/tokens", "GET", P.READ, list_tokens),
        ("/tokens", "POST", P.READ, create_token),
        ("/tokens/{token_id}/revoke", "POST", P.READ, changed(revoke_token)),
        ("/tokens/{token_id}/rotate", "POST", P.READ, changed(rotate_token)),
    ]
    out: list[PermissionedRoute] = []
    for path, method, perm, fn in table:
        out += api(s, path, method, perm, fn, _PREFIX)
    return [route(_PREFIX[0] + "/whoami", _whoami(s), ["GET"], P.PUBLIC, s.auth), *out]


def _whoami(s: Services) -> Handler:
    """Public, so that a credential with a role in any workspace can ask; it authenticates
    the request itself (invalid credentials: 401; none: the unauthenticated caller, or the
    anonymous one with auth off). Model servers verify callers through it
    (``RemoteVerifier``)."""

    async def whoami(request: Request) -> Response:
        if not request.headers.get("authorization"):
            c = UNAUTHENTICATED if s.auth.required else ANONYMOUS
        else:
            c = await run_in_threadpool(s.auth.authenticate, request.headers)
        return JSONResponse({"subject": c.subject, "kind": c.kind.value, "via": c.via,
                             "token_id": c.token_id,
                             "workspace": request_workspace(request.headers),
                             "roles": {w: r.name.lower() for w, r in c.roles.items()}})

    return whoami


def _mlflow_routes(s: Services) -> list[PermissionedRoute]:
    """The user routes of MLflow's basic-auth app, same paths, bodies and answers."""

    def user(b: Body) -> Identity:
        return _service(s).store.get_identity(b.req_text("username"))

    def create(b: Body) -> dict[str, Any]:
        svc = _service(s)
        i = svc.create_user(b.req_text("username"), b.req_text("password"), caller=b.caller)
        # MLflow's default_permission (READ) for a new user, in the request's workspace.
        i = svc.grant(i.name, b.workspace, Role.VIEWER, caller=b.caller)
        return {"user": _mlflow_user(i)}

    def get(b: Body) -> dict[str, Any]:
        return {"user": _mlflow_user(user(b))}

    def update_password(b: Body) -> dict[str, Any]:
        _service(s).set_password(b.req_text("username"), b.req_text("password"),
                                 caller=b.caller)
        s.auth.invalidate()
        return {}

    def update_admin(b: Body) -> dict[str, Any]:
        v = b.data.get("is_admin")
        if not isinstance(v, bool):
            raise invalid_param("is_admin", b.where, "a boolean", v)
        svc = _service(s)
        if v:
            svc.grant(b.req_text("username"), ALL_WORKSPACES, Role.ADMIN, caller=b.caller)
        else:
            svc.revoke(b.req_text("username"), ALL_WORKSPACES, caller=b.caller)
        s.auth.invalidate()
        return {}

    def delete(b: Body) -> dict[str, Any]:
        _service(s).delete(b.req_text("username"), IdentityKind.USER, caller=b.caller)
        s.auth.invalidate()
        return {}

    def _workspace_of(b: Body) -> str:
        rtype = b.req_text("resource_type")
        if rtype != "workspace":
            raise InvalidParameterValue(
                f"{b.where}: loopml grants roles per workspace, not per {rtype}; use "
                "resource_type='workspace' with the workspace name as resource_id.")
        return b.req_text("resource_id")

    def grant(b: Body) -> dict[str, Any]:
        ws, perm = _workspace_of(b), b.req_text("permission").upper()
        if perm not in MLFLOW_TO_ROLE:
            raise invalid_param("permission", b.where, f"one of {sorted(MLFLOW_TO_ROLE)}", perm)
        role, svc = MLFLOW_TO_ROLE[perm], _service(s)
        if role is None:
            svc.revoke(b.req_text("username"), ws, caller=b.caller)
        else:
            svc.grant(b.req_text("username"), ws, role, caller=b.caller)
        s.auth.invalidate()
        return {}

    def revoke(b: Body) -> dict[str, Any]:
        _service(s).revoke(b.req_text("username"), _workspace_of(b), caller=b.caller)
        s.auth.invalidate()
        return {}

    def get_permission(b: Body) -> dict[str, Any]:
        role = identity_role_in(user(b), _workspace_of(b))
        return {"allowed": role is not None,
                "permission": ROLE_TO_MLFLOW[role] if role else "NO_PERMISSIONS"}

    out: list[PermissionedRoute] = []
    for path, method, fn in [
        ("/users/create", "POST", create), ("/users/get", "GET", get),
        ("/users/update-admin", "PATCH", update_admin), ("/users/delete", "DELETE", delete),
    ]:
        out += api(s, path, method, P.ADMIN, fn, MLFLOW_PREFIXES)
    # As in MLflow, users change their own password (the service checks who asks).
    out += api(s, "/users/update-password", "PATCH", P.READ, update_password, MLFLOW_PREFIXES)
    for path, method, fn in [
        ("/users/permissions/grant", "POST", grant),
        ("/users/permissions/revoke", "POST", revoke),
        ("/users/permissions/get", "GET", get_permission),
    ]:
        out += api(s, path, method, P.ADMIN, fn, _MLFLOW_V3)
    return out


__all__ = ["MLFLOW_TO_ROLE", "ROLE_TO_MLFLOW", "identity_service", "routes"]
