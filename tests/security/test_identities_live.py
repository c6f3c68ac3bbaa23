"""Identities against a live server, through the unmodified mlflow client: API tokens
(MLFLOW_TRACKING_TOKEN), local passwords (MLFLOW_TRACKING_USERNAME/PASSWORD), MLflow's
AuthServiceClient, and what a training job's editor token must not be able to do."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from loopml.security import IdentityService, Role
from loopml.store.identities_sql import SqlIdentityStore
from loopml.store.sql import SqlStore
from tests.server.conftest import LiveServer, start_server

API = "/api/loopml/v1"


@dataclass
class Env:
    srv: LiveServer
    svc: IdentityService
    editor: str  # a training job's token: service account, editor in default
    deployer: str  # a monitor's token: service account, deployer in default
    approver: str  # a person's token: approver in default


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("ids")
    store = SqlStore(f"sqlite:///{root / 'db.sqlite'}", str(root / "artifacts"))
    svc = IdentityService(SqlIdentityStore(store.engine))
    svc.create_user("root", "root-password")
    svc.grant("root", "*", Role.ADMIN)
    svc.create_user("vic", "viewer-password")
    svc.grant("vic", "default", Role.VIEWER)
    svc.create_user("alice", "alice-password")
    svc.grant("alice", "default", Role.APPROVER)
    tokens = {}
    for name, role in (("trainer", Role.EDITOR), ("monitor", Role.DEPLOYER)):
        svc.create_service_account(name)
        svc.grant(name, "default", role)
        tokens[name] = svc.issue_token(name, "default").token
    approver = svc.issue_token("alice", "default").token
    store.close()
    mp = pytest.MonkeyPatch()
    mp.setenv("LOOPML_AUTH_REQUIRED", "true")
    srv = start_server(root)
    mp.undo()
    svc = IdentityService(SqlIdentityStore(SqlStore(f"sqlite:///{root / 'db.sqlite'}",
                                                    str(root / "artifacts")).engine))
    yield Env(srv, svc, tokens["trainer"], tokens["monitor"], approver)
    srv.stop()


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_credentials_are_required(env: Env) -> None:
    r = httpx.get(env.srv.url + "/api/2.0/mlflow/experiments/search")
    assert r.status_code == 401
    r = httpx.get(env.srv.url + "/api/2.0/mlflow/experiments/search",
                  headers=_h("lml_0123456789abcdef_nope"))
    assert r.status_code == 401 and "revoked" in r.json()["message"]
    assert httpx.get(env.srv.url + "/health").status_code == 200


def test_mlflow_client_with_token_and_password(env: Env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", env.editor)
    c = MlflowClient(env.srv.url)
    exp = c.create_experiment("by-token")
    run = c.create_run(exp)
    c.log_metric(run.info.run_id, "loss", 0.5)
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "vic")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "viewer-password")
    c = MlflowClient(env.srv.url)
    assert c.get_run(run.info.run_id).data.metrics == {"loss": 0.5}  # viewer reads
    with pytest.raises(MlflowException, match="needs the write permission"):
        c.create_experiment("viewer-cannot")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong-password")
    with pytest.raises(MlflowException):
        MlflowClient(env.srv.url).get_run(run.info.run_id)


def test_editor_token_cannot_do_privileged_things(env: Env) -> None:
    u, h = env.srv.url, _h(env.editor)
    cases = [
        ("POST", f"{API}/model-versions/trust", {"name": "m", "version": "1"}),
        ("POST", f"{API}/deployments", {"name": "d", "routes": []}),
        ("PATCH", f"{API}/deployments/d", {"routes": []}),
        ("POST", f"{API}/loops/{'0' * 32}/approve", {}),
        ("POST", f"{API}/loops/{'0' * 32}/advance", {"expected_state": "AWAITING_APPROVAL",
                                                     "action": "approved"}),
        ("POST", f"{API}/gc/purge-run", {"run_id": "r"}),
        ("POST", f"{API}/loops/trigger", {"model": "m"}),
        ("POST", f"{API}/pipelines/runs/start", {"pipeline": "x"}),
        ("POST", f"{API}/tokens", {"owner": "trainer", "role": "admin"}),
        ("POST", f"{API}/events", {"type": "alert.firing", "subject": "r/s", "payload": {}}),
    ]
    for method, path, body in cases:
        r = httpx.request(method, u + path, json=body, headers=h)
        assert r.status_code == 403, (path, r.status_code, r.text)
    # An ordinary event is still the editor's to post.
    r = httpx.post(u + f"{API}/events", json={"type": "note.x", "subject": "s"}, headers=h)
    assert r.status_code == 200


def test_alerts_come_from_service_deployers_only(env: Env) -> None:
    u = env.srv.url + f"{API}/events"
    body = {"type": "alert.firing", "subject": "rule/s", "payload": {}}
    assert httpx.post(u, json=body, headers=_h(env.deployer)).status_code == 200
    r = httpx.post(u, json=body, headers=_h(env.approver))  # a person, even an approver
    assert r.status_code == 403 and "service identities" in r.json()["message"]


def test_approver_is_recorded_from_the_credential(env: Env) -> None:
    r = httpx.post(env.srv.url + f"{API}/loops/{'0' * 32}/approve", json={"by": "mallory"},
                   headers=_h(env.approver))
    assert r.status_code == 404  # past the permission check: the loop does not exist


def test_workspace_header_scopes_the_role(env: Env) -> None:
    u = env.srv.url + "/api/2.0/mlflow/experiments/search"
    assert httpx.get(u, headers=_h(env.editor)).status_code == 200
    r = httpx.get(u, headers={**_h(env.editor), "X-MLFLOW-WORKSPACE": "team-b"})
    assert r.status_code == 403 and "team-b" in r.json()["message"]


def test_whoami_and_revocation(env: Env) -> None:
    issued = env.svc.issue_token("trainer", "default", Role.VIEWER)
    u = env.srv.url + f"{API}/whoami"
    me = httpx.get(u, headers=_h(issued.token)).json()
    assert me["subject"] == "trainer" and me["roles"] == {"default": "viewer"}
    assert me["kind"] == "service_account" and me["via"] == "token"
    # Revoked through the server: its own caches are cleared, so it stops at once.
    admin = httpx.BasicAuth("root", "root-password")
    r = httpx.post(env.srv.url + f"{API}/tokens/{issued.record.token_id}/revoke", auth=admin)
    assert r.status_code == 200 and r.json()["token_info"]["revoked_time"]
    assert httpx.get(u, headers=_h(issued.token)).status_code == 401


def test_mlflow_auth_service_client(env: Env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from mlflow.exceptions import MlflowException
    from mlflow.server.auth.client import AuthServiceClient

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "root")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "root-password")
    c = AuthServiceClient(env.srv.url)
    u = c.create_user("newbie", "newbie-password")
    assert u.username == "newbie" and not u.is_admin
    assert c.get_user("newbie").id == u.id
    c.grant_user_permission("newbie", "workspace", "default", "EDIT")
    got = c.get_user_permission("newbie", "workspace", "default")
    assert got.allowed and got.permission == "EDIT"
    c.update_user_admin("newbie", True)
    assert c.get_user("newbie").is_admin
    c.update_user_password("newbie", "second-password")
    with pytest.raises(MlflowException, match="per workspace"):
        c.grant_user_permission("newbie", "experiment", "1", "READ")
    c.delete_user("newbie")
    with pytest.raises(MlflowException):
        c.get_user("newbie")
    # A non-admin cannot manage users.
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "vic")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "viewer-password")
    with pytest.raises(MlflowException, match="admin"):
        AuthServiceClient(env.srv.url).create_user("x", "x-password")


def test_model_server_verifies_through_the_control_plane(env: Env) -> None:
    from starlette.testclient import TestClient

    from loopml.security import Authenticator, RemoteVerifier
    from loopml.serving.app import ServingState, create_serving_app
    from loopml.serving.repository import ModelRepository, ServingSettings

    auth = Authenticator(verifiers=[RemoteVerifier(env.srv.url)], required=True)
    app = create_serving_app(ServingState(ModelRepository({}, ServingSettings()), auth=auth))
    with TestClient(app, base_url="http://127.0.0.1") as c:
        assert c.get("/v2").status_code == 401
        assert c.get("/v2", headers=_h(env.editor)).status_code == 200
        assert c.get("/v2", headers=_h("lml_0123456789abcdef_nope")).status_code == 401
        r = c.get("/v2", headers={**_h(env.editor), "X-MLFLOW-WORKSPACE": "team-b"})
        assert r.status_code == 403
        assert c.get("/v2", auth=("vic", "viewer-password")).status_code == 200


def test_users_issue_their_own_tokens_but_tokens_mint_none(env: Env) -> None:
    u = env.srv.url + f"{API}/tokens"
    vic = httpx.BasicAuth("vic", "viewer-password")
    r = httpx.post(u, json={"owner": "vic", "name": "laptop"}, auth=vic)
    assert r.status_code == 200 and r.json()["token_info"]["role"] == "viewer"
    token = r.json()["token"]
    r = httpx.post(u, json={"owner": "vic", "role": "editor"}, auth=vic)
    assert r.status_code == 400 and "exceed" in r.json()["message"]  # never above the owner
    r = httpx.post(u, json={"owner": "vic"}, headers=_h(token))
    assert r.status_code == 403  # a token cannot outlive its revocation through children
    r = httpx.post(u, json={"owner": "alice"}, auth=vic)
    assert r.status_code == 403  # nor anyone else's
