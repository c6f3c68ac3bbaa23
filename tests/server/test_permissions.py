from __future__ import annotations

import base64
import os
import subprocess
import sys

import httpx
import pytest

from loopml.security import Permission, PermissionedRoute
from loopml.server._factory import build_services
from loopml.server.app import create_app
from tests.server.conftest import start_server


def test_every_route_declares_a_permission(tmp_path) -> None:
    app = create_app(build_services(f"sqlite:///{tmp_path / 'db'}", str(tmp_path / "a")))
    assert app.routes
    for r in app.routes:
        assert isinstance(r, PermissionedRoute), f"route {r!r} was not made with route()"
        assert isinstance(r.permission, Permission), r.path
    public = {r.path for r in app.routes if r.permission is Permission.PUBLIC}  # type: ignore[attr-defined]
    # /openapi.json and /docs describe routes, never data
    assert public == {"/health", "/health/leader", "/version", "/api/3.0/mlflow/server-info", "/ui/login",
                      "/api/loopml/v1/whoami", "/ui/logout", "/ui/static/app.css",
                      "/ui/login/oidc", "/ui/oidc/callback",  # OIDC sign-in: routes/oidc.py
                      "/openapi.json", "/docs",
                      # the workspace switcher authenticates and checks the target itself
                      # (a caller without a role in the current workspace must leave it)
                      "/ui/workspace"}


@pytest.fixture
def secured(tmp_path):
    srv = start_server(tmp_path / "sec", token="s3cret-token", basic=("ann", "pw"))
    yield srv
    srv.stop()


def test_auth_required(secured) -> None:
    url = secured.url + "/api/2.0/mlflow/experiments/get?experiment_id=0"
    r = httpx.get(url)
    assert r.status_code == 401 and r.json()["error_code"] == "UNAUTHENTICATED"
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    good = base64.b64encode(b"ann:pw").decode()
    bad = base64.b64encode(b"ann:nope").decode()
    assert httpx.get(url, headers={"Authorization": f"Basic {good}"}).status_code == 200
    assert httpx.get(url, headers={"Authorization": f"Basic {bad}"}).status_code == 403
    assert httpx.get(secured.url + "/health").status_code == 200
    assert httpx.get(secured.url + "/metrics").status_code == 401
    r = httpx.put(secured.url + "/api/2.0/mlflow-artifacts/artifacts/x.txt", content=b"x")
    assert r.status_code == 401


def test_mlflow_client_with_token_and_basic(secured, monkeypatch) -> None:
    import mlflow
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", secured.url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "s3cret-token")
    exp = MlflowClient(secured.url).create_experiment("with-token")
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ann")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw")
    assert MlflowClient(secured.url).get_experiment(exp).name == "with-token"
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    with pytest.raises(mlflow.exceptions.MlflowException):
        MlflowClient(secured.url).get_experiment(exp)


def test_non_loopback_bind_refused(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_AUTH")}
    env["LOOPML_HOME"] = str(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "loopml", "server", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert out.returncode == 2
    assert "refusing to bind" in out.stderr and "--insecure" in out.stderr
