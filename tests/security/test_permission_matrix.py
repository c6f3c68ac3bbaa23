"""The permission matrix, generated from the route tables of both servers (issue 16).

Every route of the control plane and of ``loopml serve`` must be a ``PermissionedRoute``
with a declared ``Permission`` (a route added without one fails here). Then every route is
called with an API token of every role, in the token's own workspace and in another one
(``X-MLFLOW-WORKSPACE``), and the route layer must allow exactly when the role holds the
permission in that workspace. A denial by the route layer is a 401, or a 403 whose message
names the permission needed; anything else (200, 400, 404 ...) means the request got past
the check to the handler.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from loopml.security import (
    REQUIRED_ROLE,
    Authenticator,
    IdentityService,
    Permission,
    PermissionedRoute,
    Role,
    build_verifiers,
)
from loopml.server._factory import build_services
from loopml.server.app import create_app
from loopml.store.identities_sql import SqlIdentityStore

OWN, OTHER = "team-a", "team-b"
P = Permission

# Levels the issue fixes for sensitive routes: a change to one of these is deliberate.
EXPECTED = {
    ("POST", "/api/loopml/v1/deployments"): P.DEPLOY,
    ("PATCH", "/api/loopml/v1/deployments/{name}"): P.DEPLOY,
    ("DELETE", "/api/loopml/v1/deployments/{name}"): P.DEPLOY,
    ("POST", "/api/loopml/v1/model-versions/trust"): P.APPROVE,
    ("POST", "/api/loopml/v1/loops/{loop_id}/approve"): P.APPROVE,
    ("POST", "/api/loopml/v1/loops/{loop_id}/advance"): P.DEPLOY,
    ("POST", "/api/loopml/v1/loops/create"): P.DEPLOY,
    ("POST", "/api/loopml/v1/loops/trigger"): P.DEPLOY,
    ("POST", "/api/loopml/v1/pipelines/runs/start"): P.DEPLOY,
    ("POST", "/api/loopml/v1/pipelines/triggers"): P.DEPLOY,
    ("POST", "/api/loopml/v1/gc/purge-run"): P.ADMIN,
    ("GET", "/api/loopml/v1/gc/deleted-runs"): P.ADMIN,
    ("POST", "/api/loopml/v1/users"): P.ADMIN,
    ("POST", "/api/loopml/v1/service-accounts"): P.ADMIN,
    ("POST", "/api/loopml/v1/identities/{name}/roles"): P.ADMIN,
    ("POST", "/api/2.0/mlflow/users/create"): P.ADMIN,
    ("POST", "/api/3.0/mlflow/users/permissions/grant"): P.ADMIN,
    ("POST", "/api/2.0/mlflow/runs/log-batch"): P.WRITE,
    ("POST", "/api/2.0/mlflow/runs/search"): P.READ,
    ("POST", "/api/loopml/v1/events"): P.WRITE,
}


@dataclass
class Env:
    control: Starlette
    serving: Starlette
    tokens: dict[Role, str]


def _fill(path: str) -> str:
    """A concrete URL for a route path: each {param} (or {param:path}) becomes 'x', each
    {param:int} '1'."""
    return re.sub(r"\{[^}]+\}", "x", re.sub(r"\{[^}:]+:int\}", "1", path))


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:  # type: ignore[no-untyped-def]
    root: Path = tmp_path_factory.mktemp("matrix")
    services = build_services(f"sqlite:///{root / 'db.sqlite'}", str(root / "artifacts"))
    assert services.identities is not None
    svc = IdentityService(services.identities)
    tokens = {}
    for role in Role:
        name = f"sa-{role.name.lower()}"
        svc.create_service_account(name)
        svc.grant(name, OWN, role)
        tokens[role] = svc.issue_token(name, OWN).token
    from loopml.serving.app import ServingState, create_serving_app
    from loopml.serving.repository import ModelRepository, ServingSettings

    serve_auth = Authenticator(
        verifiers=build_verifiers(SqlIdentityStore(services.store.engine)),  # type: ignore[attr-defined]
        required=True)
    serving = create_serving_app(ServingState(ModelRepository({}, ServingSettings()),
                                              auth=serve_auth))
    services.auth.required = True
    yield Env(create_app(services), serving, tokens)


def _routes(app: Starlette) -> list[tuple[str, str, Permission]]:
    out = []
    for r in app.routes:
        assert isinstance(r, PermissionedRoute), f"route {r!r} was not made with route()"
        assert isinstance(r.permission, Permission), f"{r.path} declares no Permission"
        for m in sorted((r.methods or set()) - {"HEAD"}):
            out.append((m, r.path, r.permission))
    return out


def test_every_route_declares_a_permission(env: Env) -> None:
    control = {(m, p): perm for m, p, perm in _routes(env.control)}
    _routes(env.serving)
    for key, perm in EXPECTED.items():
        assert control.get(key) is perm, f"{key}: {control.get(key)} (expected {perm})"


def _denied(r: httpx.Response) -> bool:
    """401; a 403 naming the permission (JSON or the dashboard's error page); or the
    dashboard's redirect of a caller without credentials to its login page."""
    if r.status_code == 401:
        return True
    if r.status_code == 303:
        return r.headers.get("location", "").startswith("/ui/login")
    return r.status_code == 403 and ("permission (role" in r.text
                                    or "Authentication required" in r.text)


def _expect(role: Role, perm: Permission, own: bool) -> bool:
    return perm is P.PUBLIC or (own and role >= REQUIRED_ROLE[perm])


@pytest.mark.parametrize("which", ["control", "serving"])
def test_matrix(env: Env, which: str) -> None:
    app = env.control if which == "control" else env.serving
    wrong: list[str] = []
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False,
                    follow_redirects=False) as c:
        for method, path, perm in _routes(app):
            url = _fill(path)
            r = c.request(method, url)  # no credentials at all
            if _denied(r) != (perm is not P.PUBLIC):
                wrong.append(f"anonymous {method} {path}: {r.status_code}")
            for role, token in env.tokens.items():
                for own in (True, False):
                    headers = {"Authorization": f"Bearer {token}",
                               "X-MLFLOW-WORKSPACE": OWN if own else OTHER}
                    if method in ("POST", "PATCH", "PUT"):
                        headers["Content-Type"] = "application/json"
                    r = c.request(method, url, headers=headers,
                                  content=b"{}" if method != "GET" else None)
                    if _denied(r) == _expect(role, perm, own):
                        wrong.append(f"{role.name.lower()} {'own' if own else 'other'} "
                                     f"{method} {path} ({perm.value}): {r.status_code} "
                                     f"{r.text[:120]}")
    assert not wrong, "\n".join(wrong[:40])
