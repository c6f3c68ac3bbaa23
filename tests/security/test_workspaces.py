"""Workspaces: the registry, store scoping, the request's workspace, and MLflow's workspace
API driven by the real mlflow client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loopml.entities import TrafficRoute
from loopml.errors import InvalidParameterValue, InvalidState, ResourceDoesNotExist
from loopml.security._workspaces_sql import SqlWorkspaceStore
from loopml.security.workspaces import (
    ALL_WORKSPACES,
    current_workspace,
    use_workspace,
    workspace_of,
)
from loopml.store import get_deployment_store, get_loop_store, get_registry_store
from loopml.store.sql import SqlStore
from tests.server.conftest import LiveServer, start_server


@pytest.fixture
def store(tmp_path: Path) -> SqlStore:
    return SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))


def test_registry_crud_and_delete_modes(store: SqlStore, tmp_path: Path) -> None:
    ws = SqlWorkspaceStore(store.engine)
    assert [w.name for w in ws.list()] == ["default"]
    ws.create("team-a", "Team A", str(tmp_path / "team-a-artifacts"))
    assert ws.get("team-a").description == "Team A"
    assert ws.update("team-a", description="A").description == "A"
    assert ws.update("default", description="The default").description == "The default"
    assert [w.name for w in ws.list()] == ["default", "team-a"]
    with pytest.raises(InvalidParameterValue):
        ws.create("Bad_Name")
    with use_workspace("team-a"):
        eid = store.create_experiment("team-exp")
    assert store.get_experiment(eid).artifact_location == f"{tmp_path / 'team-a-artifacts'}/{eid}"
    with pytest.raises(InvalidState, match="SET_DEFAULT"):
        ws.delete("team-a")
    ws.delete("team-a", "SET_DEFAULT")
    assert store.get_experiment(eid).workspace == "default"
    with pytest.raises(ResourceDoesNotExist):
        ws.get("team-a")
    with pytest.raises(InvalidParameterValue):
        ws.delete("default")


def test_listings_are_scoped_and_creation_is_stamped(store: SqlStore) -> None:
    SqlWorkspaceStore(store.engine).create("team-a")
    reg, dep = get_registry_store(store), get_deployment_store(store)
    with use_workspace("team-a"):
        store.create_experiment("a-exp")
        reg.create_registered_model("a-model")
        reg.create_model_version("a-model", "/tmp/m")  # noqa: S108 - a path, never read
        dep.create_deployment("a-dep", [TrafficRoute("models:/a-model/1", 100)])
        assert [e.name for e in store.search_experiments().items] == ["a-exp"]
        assert [m.name for m in reg.search_registered_models().items] == ["a-model"]
        assert [d.name for d in dep.list_deployments()] == ["a-dep"]
    default_exps = [e.name for e in store.search_experiments().items]
    assert "a-exp" not in default_exps and "Default" in default_exps
    assert reg.search_registered_models().items == []
    assert dep.list_deployments() == []
    assert get_loop_store(store).list_loops() == []
    with use_workspace(ALL_WORKSPACES):  # the controller's view
        assert [d.name for d in dep.list_deployments()] == ["a-dep"]
        # Names are unique per workspace: a name means the bound workspace's entity, and
        # while every workspace is bound, the one workspace holding it.
        assert dep.get_deployment("a-dep").name == "a-dep"
    with pytest.raises(ResourceDoesNotExist):
        dep.get_deployment("a-dep")
    with pytest.raises(ResourceDoesNotExist):
        reg.get_registered_model("a-model")
    with use_workspace("team-b"), pytest.raises(ResourceDoesNotExist, match="workspaces create"):
        store.create_experiment("b-exp")  # team-b was never created


def test_current_workspace_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOOPML_WORKSPACE", raising=False)
    monkeypatch.delenv("MLFLOW_WORKSPACE", raising=False)
    assert current_workspace() == "default"
    monkeypatch.setenv("MLFLOW_WORKSPACE", "from-mlflow")
    assert current_workspace() == "from-mlflow"
    with use_workspace("bound"):
        assert current_workspace() == "bound"

    class Req:
        def __init__(self, h: dict[str, str]) -> None:
            self.headers = h

    assert workspace_of(Req({})) == "default"
    assert workspace_of(Req({"X-MLFLOW-WORKSPACE": " team-a "})) == "team-a"
    with pytest.raises(InvalidParameterValue):
        workspace_of(Req({"X-MLFLOW-WORKSPACE": "api"}))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = start_server(tmp_path_factory.mktemp("ws-server"))
    yield srv
    srv.stop()


def test_mlflow_client_workspace_api(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    mlflow.set_tracking_uri(server.url)
    try:
        ws = mlflow.create_workspace("team-a", description="Team A")
        assert ws.name == "team-a" and ws.description == "Team A"
        assert {w.name for w in mlflow.list_workspaces()} == {"default", "team-a"}
        assert mlflow.get_workspace("team-a").description == "Team A"
        assert mlflow.update_workspace("team-a", description="A").description == "A"
        mlflow.set_workspace("team-a")
        eid = mlflow.create_experiment("ws-mlflow-exp")
        with mlflow.start_run(experiment_id=eid):
            mlflow.log_param("alpha", 1)
        MlflowClient().create_registered_model("ws-mlflow-model")
        assert [e.name for e in mlflow.search_experiments()] == ["ws-mlflow-exp"]
        assert [m.name for m in MlflowClient().search_registered_models()] == ["ws-mlflow-model"]
        mlflow.set_workspace(None)
        assert "ws-mlflow-exp" not in [e.name for e in mlflow.search_experiments()]
        assert MlflowClient().search_registered_models() == []
        with pytest.raises(mlflow.exceptions.MlflowException, match="SET_DEFAULT"):
            mlflow.delete_workspace("team-a")
        mlflow.delete_workspace("team-a", mode="SET_DEFAULT")
        assert [w.name for w in mlflow.list_workspaces()] == ["default"]
        assert "ws-mlflow-exp" in [e.name for e in mlflow.search_experiments()]
    finally:
        mlflow.set_workspace(None)


def test_bad_workspace_header_is_a_400(server: LiveServer) -> None:
    r = httpx.get(server.url + "/api/2.0/mlflow/experiments/search",
                  headers={"X-MLFLOW-WORKSPACE": "Not Valid"})
    assert r.status_code == 400 and "Workspace name" in r.json()["message"]
    info = httpx.get(server.url + "/api/3.0/mlflow/server-info").json()
    assert info["workspaces_enabled"] is True


def test_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from loopml.cli.main import app

    monkeypatch.setenv("LOOPML_HOME", str(tmp_path))
    monkeypatch.delenv("LOOPML_TRACKING_URI", raising=False)
    r = CliRunner()
    assert r.invoke(app, ["workspaces", "create", "team-a", "--description", "A"]).exit_code == 0
    assert "team-a\tA" in r.invoke(app, ["workspaces", "list"]).output
    assert r.invoke(app, ["workspaces", "create", "team-a"]).exit_code == 2
    out = r.invoke(app, ["workspaces", "quota", "set", "team-a", "--runs", "10"]).output
    assert "runs\t0 / 10" in out
    # Only -1 means "no limit": another negative number is a typo, not unlimited.
    neg = r.invoke(app, ["workspaces", "quota", "set", "team-a", "--runs", "-5"])
    assert neg.exit_code == 2 and "-1" in neg.output
    assert "runs\t0 / 10" in r.invoke(app, ["workspaces", "quota", "show", "team-a"]).output
    out = r.invoke(app, ["workspaces", "quota", "set", "team-a", "--runs", "-1"]).output
    assert "runs\t0 / unlimited" in out
    assert r.invoke(app, ["workspaces", "delete", "team-a"]).exit_code == 0
    assert r.invoke(app, ["workspaces", "delete", "nope"]).exit_code == 2


def test_loopml_rest_store_sends_the_workspace(server: LiveServer,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from loopml.store.rest import RestStore

    httpx.post(server.url + "/api/3.0/mlflow/workspaces", json={"name": "team-rest"})
    rest = RestStore(server.url)
    try:
        with use_workspace("team-rest"):
            rest.create_experiment("rest-ws-exp")
            assert [e.name for e in rest.search_experiments().items] == ["rest-ws-exp"]
        monkeypatch.setenv("LOOPML_WORKSPACE", "team-rest")  # a process's workspace
        assert [e.name for e in rest.search_experiments().items] == ["rest-ws-exp"]
        monkeypatch.delenv("LOOPML_WORKSPACE")
        assert "rest-ws-exp" not in [e.name for e in rest.search_experiments().items]
    finally:
        rest.close()


@pytest.mark.parametrize("root", ["../x", "rel/dir", "ftp://host/x", "s3://", "file://"])
def test_an_unusable_artifact_root_is_refused(store: SqlStore, root: str) -> None:
    ws = SqlWorkspaceStore(store.engine)
    with pytest.raises(InvalidParameterValue, match="Artifact root"):
        ws.create("team-r", artifact_root=root)
    ws.create("team-r", artifact_root="s3://bucket/team-r")
    with pytest.raises(InvalidParameterValue, match="Artifact root"):
        ws.update("team-r", artifact_root=root)
    assert ws.update("team-r", artifact_root="").artifact_root is None


def test_same_names_in_two_workspaces_with_the_mlflow_client(
        server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The unmodified mlflow client, switched with mlflow.set_workspace, keeps an experiment,
    a registered model (versions, aliases), a deployment and a dataset called ``churn`` in
    each of two workspaces apart."""
    import mlflow
    from mlflow import MlflowClient

    from loopml.store.datasets_base import DatasetVersion
    from loopml.store.datasets_rest import RestDatasetStore
    from loopml.store.deployments_rest import RestDeploymentStore
    from loopml.store.rest import RestStore

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    mlflow.set_tracking_uri(server.url)
    rest = RestStore(server.url)
    seen: dict[str, tuple[str, str, int]] = {}
    try:
        for ws in ("churn-a", "churn-b"):
            mlflow.create_workspace(ws)
        for ws, alpha in (("churn-a", 1), ("churn-b", 2)):
            mlflow.set_workspace(ws)
            eid = mlflow.create_experiment("churn")
            with mlflow.start_run(experiment_id=eid) as run:
                mlflow.log_param("alpha", alpha)
            c = MlflowClient()
            c.create_registered_model("churn", description=f"{ws}'s")
            mv = c.create_model_version("churn", f"runs:/{run.info.run_id}/model",
                                        run_id=run.info.run_id)
            c.set_registered_model_alias("churn", "champion", mv.version)
            with use_workspace(ws):  # loopml's own REST stores send the same header
                RestDeploymentStore(rest).create_deployment(
                    "churn", [TrafficRoute("models:/churn/1", 100)])
                RestDatasetStore(rest).create_version(DatasetVersion(
                    "churn", 0, f"digest-{ws}", "s3://b/k", "s3", {}, {}, alpha))
            seen[ws] = (eid, run.info.run_id, int(mv.version))
        for ws, alpha in (("churn-a", 1), ("churn-b", 2)):
            mlflow.set_workspace(ws)
            eid, rid, version = seen[ws]
            exp = mlflow.get_experiment_by_name("churn")
            assert exp is not None and exp.experiment_id == eid
            assert mlflow.get_run(rid).data.params == {"alpha": str(alpha)}
            c = MlflowClient()
            assert c.get_registered_model("churn").description == f"{ws}'s"
            assert c.get_model_version_by_alias("churn", "champion").run_id == rid
            assert version == 1  # versions are numbered per workspace's model
            with use_workspace(ws):
                dep = RestDeploymentStore(rest).get_deployment("churn")
                assert dep.name == "churn" and dep.revision == 1
                assert RestDatasetStore(rest).get_version("churn", "latest").num_rows == alpha
        mlflow.set_workspace(None)
        assert mlflow.get_experiment_by_name("churn") is None  # default has none
        with pytest.raises(mlflow.exceptions.MlflowException, match="RESOURCE_DOES_NOT_EXIST"):
            MlflowClient().get_registered_model("churn")
        # Serving every workspace: an ambiguous name is a 400 that says what to do.
        with use_workspace(ALL_WORKSPACES), pytest.raises(InvalidParameterValue,
                                                         match="several workspaces"):
            RestDeploymentStore(rest).get_deployment("churn")
    finally:
        mlflow.set_workspace(None)
        rest.close()
