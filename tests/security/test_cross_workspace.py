"""Cross-workspace access by id (issue 16): a route that addresses an existing entity is
authorised in the entity's own workspace, not only in the one the request's
``X-MLFLOW-WORKSPACE`` header names. An editor of ``team-a`` sending ``team-a`` gets a 404
for every kind of ``team-b`` entity (so ids do not reveal existence), a caller with a lower
role in ``team-b`` gets a 403, and an admin of ``*`` reaches them all. The unmodified mlflow
client with a ``team-a`` token cannot log to a ``team-b`` run."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from loopml.entities import TrafficRoute
from loopml.security import IdentityService, Role
from loopml.security._workspaces_sql import SqlWorkspaceStore
from loopml.security.entity_scope import RUN, EntityScope
from loopml.security.workspaces import use_workspace
from loopml.server._factory import build_services
from loopml.server.app import create_app
from loopml.store import (
    get_dataset_store,
    get_deployment_store,
    get_loop_store,
    get_pipeline_store,
    get_registry_store,
)
from loopml.store.datasets_base import DatasetVersion
from loopml.store.loops_base import Loop
from loopml.store.pipelines_base import PipelineRun, Trigger
from tests.server.conftest import LiveServer, start_server

V2, LML = "/api/2.0/mlflow", "/api/loopml/v1"


@dataclass
class Env:
    client: TestClient
    editor_a: str  # token: editor in team-a only
    admin_all: str  # token: admin on "*"
    mixed: str  # basic credentials: editor in team-a, viewer in team-b
    ids: dict[str, str]  # team-b's entities (exp, run, model_id) and a team-a run
    deployer_a: str  # token: deployer in team-a only
    deployer_mixed: str  # basic credentials: deployer in team-a, viewer in team-b


def _seed(services: Any) -> dict[str, str]:
    st = services.store
    SqlWorkspaceStore(st.engine).create("team-a")
    SqlWorkspaceStore(st.engine).create("team-b")
    with use_workspace("team-a"):
        run_a = st.create_run(st.create_experiment("exp-a")).info.run_id
    with use_workspace("team-b"):
        exp = st.create_experiment("exp-b")
        run = st.create_run(exp).info.run_id
        model_id = st.create_logged_model(exp, name="lm-b").model_id
        reg = get_registry_store(st)
        reg.create_registered_model("model-b")
        reg.create_model_version("model-b", "/tmp/m")  # noqa: S108 - never read
        get_deployment_store(st).create_deployment(
            "dep-b", [TrafficRoute("models:/model-b/1", 100)])
        get_loop_store(st).create_loop(Loop("loopb", "model-b", "pol", "triggered"), "t", {})
        pipes = get_pipeline_store(st)
        pipes.create_run(PipelineRun("prunb", "p", "flows:p", {}, "running"))
        pipes.create_trigger(Trigger("trig-b", "flows:p", "cron", {"cron": "*/5 * * * *"}))
        get_dataset_store(st).create_version(DatasetVersion("ds-b", 0, "d" * 64))
    return {"exp": exp, "run": run, "model_id": model_id, "run_a": run_a}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root: Path = tmp_path_factory.mktemp("xws")
    services = build_services(f"sqlite:///{root / 'db.sqlite'}", str(root / "artifacts"))
    assert services.identities is not None
    ids = _seed(services)
    svc = IdentityService(services.identities)
    svc.create_service_account("ed-a")
    svc.grant("ed-a", "team-a", Role.EDITOR)
    svc.create_service_account("root")
    svc.grant("root", "*", Role.ADMIN)
    svc.create_user("mixed", "mixed-password")
    svc.grant("mixed", "team-a", Role.EDITOR)
    svc.grant("mixed", "team-b", Role.VIEWER)
    svc.create_service_account("dep-a")
    svc.grant("dep-a", "team-a", Role.DEPLOYER)
    svc.create_user("dmixed", "dmixed-password")
    svc.grant("dmixed", "team-a", Role.DEPLOYER)
    svc.grant("dmixed", "team-b", Role.VIEWER)
    services.auth.required = True
    mixed = base64.b64encode(b"mixed:mixed-password").decode()
    dmixed = base64.b64encode(b"dmixed:dmixed-password").decode()
    with TestClient(create_app(services), base_url="http://127.0.0.1",
                    raise_server_exceptions=False) as c:
        yield Env(c, svc.issue_token("ed-a", "team-a").token,
                  svc.issue_token("root", "*").token, f"Basic {mixed}", ids,
                  f"Bearer {svc.issue_token('dep-a', 'team-a').token}", f"Basic {dmixed}")


def _cases(ids: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, url, JSON body or query) addressing each kind of team-b entity."""
    run, exp, mid = ids["run"], ids["exp"], ids["model_id"]
    metric = {"key": "m", "value": 1.0, "timestamp": 1, "step": 0}
    art = f"/api/2.0/mlflow-artifacts/artifacts/{exp}/{run}/artifacts/x.txt"
    return [
        ("POST", f"{V2}/runs/log-metric", {"run_id": run, **metric}),
        ("POST", f"{V2}/runs/log-batch", {"run_id": run, "metrics": [metric]}),
        ("POST", f"{V2}/runs/set-tag", {"run_id": run, "key": "k", "value": "v"}),
        ("GET", f"{V2}/runs/get", {"run_id": run}),
        ("GET", f"{V2}/metrics/get-history", {"run_id": run, "metric_key": "m"}),
        ("GET", f"{V2}/artifacts/list", {"run_id": run}),
        ("PUT", art, {}),
        ("GET", art, {}),
        ("POST", f"{V2}/runs/create", {"experiment_id": exp}),
        ("POST", f"{V2}/runs/create", {}),  # experiment 0, of workspace default
        ("GET", f"{V2}/experiments/get", {"experiment_id": exp}),
        ("GET", f"{V2}/experiments/get-by-name", {"experiment_name": "exp-b"}),
        ("POST", f"{V2}/experiments/set-experiment-tag",
         {"experiment_id": exp, "key": "k", "value": "v"}),
        ("POST", f"{V2}/runs/search", {"experiment_ids": [exp]}),
        ("GET", f"{V2}/logged-models/{mid}", {}),
        ("GET", f"{V2}/registered-models/get", {"name": "model-b"}),
        ("POST", f"{V2}/registered-models/set-tag", {"name": "model-b", "key": "k",
                                                      "value": "v"}),
        ("GET", f"{V2}/model-versions/get", {"name": "model-b", "version": "1"}),
        ("POST", f"{V2}/model-versions/set-tag",
         {"name": "model-b", "version": "1", "key": "k", "value": "v"}),
        ("GET", f"{LML}/deployments/dep-b", {}),
        ("GET", f"{LML}/loops/loopb", {}),
        ("GET", f"{LML}/pipelines/runs/prunb", {}),
        ("POST", f"{LML}/pipelines/runs/prunb/steps", {"step": "s", "status": "running"}),
        ("GET", f"{LML}/datasets/ds-b/versions", {}),
        ("POST", f"{LML}/datasets/ds-b/tags", {"key": "k", "value": "v"}),
    ]


def _call(c: TestClient, method: str, url: str, data: dict[str, Any],
          auth: str, ws: str = "team-a") -> Any:
    headers = {"Authorization": auth, "X-MLFLOW-WORKSPACE": ws}
    if method == "GET":
        return c.get(url, params=data, headers=headers)
    if url.startswith("/api/2.0/mlflow-artifacts"):
        return c.request(method, url, content=b"hello", headers=headers)
    return c.request(method, url, json=data, headers=headers)


def test_editor_of_team_a_gets_404_for_every_team_b_entity(env: Env) -> None:
    wrong = []
    for method, url, data in _cases(env.ids):
        r = _call(env.client, method, url, data, f"Bearer {env.editor_a}")
        if r.status_code != 404 or r.json().get("error_code") != "RESOURCE_DOES_NOT_EXIST":
            wrong.append(f"{method} {url}: {r.status_code} {r.text[:150]}")
    assert not wrong, "\n".join(wrong)


def _by_name(url: str, data: dict[str, Any]) -> bool:
    """Whether the case names its entity by name (registered models, versions, deployments,
    datasets, an experiment by name): names are unique per workspace (migration 0013), so a
    name means the request's workspace's entity."""
    return "experiment_name" in data or any(k in url for k in (
        "registered-models/", "model-versions/", "/deployments/", "/datasets/"))


def test_admin_of_every_workspace_reaches_them(env: Env) -> None:
    wrong = []
    for method, url, data in _cases(env.ids):
        # Ids reach across workspaces (checked where the entity lives); a name is looked up
        # in the workspace the request names, so the admin names team-b.
        ws = "team-b" if _by_name(url, data) else "team-a"
        r = _call(env.client, method, url, data, f"Bearer {env.admin_all}", ws)
        if r.status_code != 200:
            wrong.append(f"{method} {url}: {r.status_code} {r.text[:150]}")
    assert not wrong, "\n".join(wrong)


def test_dashboard_pages_of_another_workspace_are_a_404(env: Env) -> None:
    ids = env.ids
    pages: list[tuple[str, dict[str, Any]]] = [
        (f"/ui/runs/{ids['run']}", {}), (f"/ui/experiments/{ids['exp']}", {}),
        ("/ui/compare", {"run": [ids["run"], ids["run_a"]]}),
        (f"/ui/artifact/{ids['run']}", {"path": "x.txt"}), ("/ui/models/model-b", {}),
        ("/ui/pipelines/prunb", {}), ("/ui/datasets/ds-b", {})]
    for url, query in pages:
        r = _call(env.client, "GET", url, query, f"Bearer {env.editor_a}")
        assert r.status_code == 404, (url, r.status_code, r.text[-300:])
        ws = "team-b" if url.startswith(("/ui/models/", "/ui/datasets/")) else "team-a"
        r = _call(env.client, "GET", url, query, f"Bearer {env.admin_all}", ws)
        assert r.status_code == 200, (url, r.status_code, r.text[-300:])


def test_a_lower_role_in_the_entitys_workspace_is_a_403(env: Env) -> None:
    c, run = env.client, env.ids["run"]
    assert _call(c, "GET", f"{V2}/runs/get", {"run_id": run}, env.mixed).status_code == 200
    r = _call(c, "POST", f"{V2}/runs/log-metric",
              {"run_id": run, "key": "m", "value": 2.0, "timestamp": 2, "step": 1}, env.mixed)
    assert r.status_code == 403 and "'team-b'" in r.json()["message"]


def test_a_deployment_routes_only_to_models_its_deployer_can_read(env: Env) -> None:
    c, run_b = env.client, env.ids["run"]
    # A run id reaches across workspaces, so it is checked where the run lives.
    body = {"name": "dep-x", "routes": [{"model_uri": f"runs:/{run_b}/model", "weight": 100}]}
    r = _call(c, "POST", f"{LML}/deployments", body, env.deployer_a)
    assert r.status_code == 404, (r.status_code, r.text[:200])
    r = _call(c, "POST", f"{LML}/deployments", body, env.deployer_mixed)  # reads team-b
    assert r.status_code == 200, r.text
    # A models:/ URI names a model of the request's workspace (names are unique per
    # workspace): team-b's model-b is not found from team-a, whatever the caller's roles.
    for i, uri in enumerate(["models:/model-b/1", "models:/model-b@champion"]):
        body = {"name": f"dep-m{i}", "routes": [{"model_uri": uri, "weight": 100}]}
        for who in (env.deployer_a, env.deployer_mixed):
            r = _call(c, "POST", f"{LML}/deployments", body, who)
            assert r.status_code == 400 and "does not exist" in r.text, (uri, r.text[:200])


def test_the_artifact_proxy_root_lists_only_readable_experiments(env: Env) -> None:
    url = "/api/2.0/mlflow-artifacts/artifacts"
    put = f"{url}/{env.ids['exp']}/{env.ids['run']}/artifacts/y.txt"
    assert _call(env.client, "PUT", put, {}, f"Bearer {env.admin_all}").status_code == 200
    seen = {f["path"] for f in _call(env.client, "GET", url, {}, f"Bearer {env.admin_all}")
            .json()["files"]}
    assert env.ids["exp"] in seen
    r = _call(env.client, "GET", url, {}, f"Bearer {env.editor_a}")
    assert env.ids["exp"] not in {f["path"] for f in r.json()["files"]}


def test_own_workspace_and_missing_entities_are_unchanged(env: Env) -> None:
    c, tok = env.client, f"Bearer {env.editor_a}"
    r = _call(c, "POST", f"{V2}/runs/log-metric",
              {"run_id": env.ids["run_a"], "key": "m", "value": 1.0, "timestamp": 1}, tok)
    assert r.status_code == 200, r.text
    r = _call(c, "GET", f"{V2}/runs/get", {"run_id": "f" * 32}, tok)
    assert r.status_code == 404  # the handler's own answer for a run that does not exist
    # Searches list the caller's workspace only: team-b's model versions stay hidden.
    r = _call(c, "GET", f"{V2}/model-versions/search", {"filter": "name='model-b'"}, tok)
    assert r.status_code == 200 and not r.json().get("model_versions")


# Routes that address an existing entity of a workspace-scoped kind by id or name. Each
# must declare it (``api(..., entity=...)``); a new one added without fails here.
_PREFIX = re.compile(r"^/(ajax-)?api/[23]\.0/mlflow(-artifacts)?|^/api/loopml/v1")
_ADDRESSING = re.compile(
    r"/(runs/(?!search$)|experiments/(?!search$|create$)|registered-models/(?!search$|create$)"
    r"|model-versions/(?!search$)|logged-models/|logged-models$|deployments/|loops/\{"
    r"|loops/trigger|pipelines/runs/\{|pipelines/triggers/\{|datasets/"
    r"|artifacts/list|metrics/|artifacts/\{|artifacts$|gc/purge-run"
    r"|ui/(runs|experiments|artifact|preview|models|pipelines|datasets|loop)/)")


def test_every_addressing_route_declares_its_entity(env: Env) -> None:
    app = env.client.app
    missing = []
    for r in app.routes:  # type: ignore[attr-defined]
        path = _PREFIX.sub("", r.path)
        if _ADDRESSING.match(path) and not r.entity:
            missing.append(f"{sorted(r.methods or ())} {r.path}")
    assert not missing, "routes addressing an entity without entity=...:\n" + "\n".join(
        missing)


def test_run_workspaces_are_cached(env: Env, tmp_path: Path) -> None:
    services = build_services(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "a"))
    scope = services.entity_scope
    assert isinstance(scope, EntityScope)
    rid = services.store.create_run("0").info.run_id
    assert scope.workspace(RUN, rid) == "default"
    services.store.engine.dispose()  # type: ignore[attr-defined]
    scope.engine = None  # type: ignore[assignment]  # a second lookup must not query
    assert scope.workspace(RUN, rid) == "default"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str, str]]:
    root = tmp_path_factory.mktemp("xws-live")
    services = build_services(f"sqlite:///{root / 'db.sqlite'}", str(root / "artifacts"))
    assert services.identities is not None
    ids = _seed(services)
    svc = IdentityService(services.identities)
    svc.create_service_account("trainer-a")
    svc.grant("trainer-a", "team-a", Role.EDITOR)
    token = svc.issue_token("trainer-a", "team-a").token
    services.store.engine.dispose()  # type: ignore[attr-defined]
    mp = pytest.MonkeyPatch()
    mp.setenv("LOOPML_AUTH_REQUIRED", "true")
    srv = start_server(root)
    mp.undo()
    yield srv, token, ids["run"]
    srv.stop()


def test_mlflow_client_with_a_team_a_token_cannot_log_to_a_team_b_run(
        live: tuple[LiveServer, str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    srv, token, run_b = live
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    mlflow.set_tracking_uri(srv.url)
    mlflow.set_workspace("team-a")
    try:
        client = MlflowClient(srv.url)
        eid = client.create_experiment("client-a")
        own = client.create_run(eid).info.run_id
        client.log_metric(own, "loss", 0.5)  # its own workspace works
        with pytest.raises(MlflowException) as e:
            client.log_metric(run_b, "loss", 0.5)
        assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        with pytest.raises(MlflowException):
            client.get_run(run_b)
    finally:
        mlflow.set_workspace(None)
