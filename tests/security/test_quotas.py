"""Per-workspace quotas: refused before anything is written, 403 RESOURCE_EXHAUSTED with
the quota, the usage and who can raise it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from loopml.entities import TrafficRoute
from loopml.errors import InvalidParameterValue, QuotaExceeded
from loopml.security import quotas
from loopml.security._workspaces_sql import SqlWorkspaceStore
from loopml.security.workspaces import use_workspace
from loopml.store import get_deployment_store, get_pipeline_store, get_registry_store
from loopml.store.pipelines_base import PENDING, SUCCEEDED, PipelineRun
from loopml.store.sql import SqlStore
from tests.server.conftest import LiveServer, start_server


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    uri = (f"sqlite:///{tmp_path / 'db.sqlite'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_uri"))
    s = SqlStore(uri, str(tmp_path / "artifacts"))
    SqlWorkspaceStore(s.engine).create("team-a")
    yield s
    s.close()


def test_concurrent_inserts_never_pass_the_limit(store: SqlStore) -> None:
    """Eight threads race for five slots: the quota row's lock (PostgreSQL) or the write
    lock (SQLite) counts them one after the other."""
    from concurrent.futures import ThreadPoolExecutor

    quotas.set_limits(store.engine, "team-a", {"runs": 5})
    with use_workspace("team-a"):
        eid = store.create_experiment("race")

    def one(_: int) -> bool:
        try:
            store.create_run(eid)
            return True
        except QuotaExceeded:
            return False

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    assert results.count(True) == 5 and _count(store, "runs") == 5


def _count(store: SqlStore, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() or 0)  # noqa: S608


def test_runs_quota_refuses_without_writing(store: SqlStore) -> None:
    quotas.set_limits(store.engine, "team-a", {"runs": 2})
    with use_workspace("team-a"):
        eid = store.create_experiment("q-exp")
    store.create_run(eid)
    store.create_run(eid)
    runs, events = _count(store, "runs"), _count(store, "events")
    with pytest.raises(QuotaExceeded) as exc:
        store.create_run(eid)
    e = exc.value
    assert e.http_status == 403 and e.error_code == "RESOURCE_EXHAUSTED"
    assert e.details["quota"] == "runs" and e.details["usage"] == 2 and e.details["limit"] == 2
    assert "workspaces quota set team-a --runs" in e.details["raised_by"]
    assert (_count(store, "runs"), _count(store, "events")) == (runs, events)
    # Other workspaces are not limited by team-a's quota.
    store.create_run("0")
    quotas.set_limits(store.engine, "team-a", {"runs": None})
    store.create_run(eid)
    with store.engine.connect() as conn:
        assert quotas.report(conn, "team-a")["runs"] == {"limit": None, "usage": 3}


def test_models_deployments_and_pipeline_runs(store: SqlStore) -> None:
    quotas.set_limits(store.engine, "team-a", {"registered_models": 1, "deployments": 1,
                                               "concurrent_pipeline_runs": 1})
    reg, dep, pipes = get_registry_store(store), get_deployment_store(store), \
        get_pipeline_store(store)
    with use_workspace("team-a"):
        reg.create_registered_model("m1")
        reg.create_model_version("m1", "/tmp/m")  # noqa: S108 - a path, never read
        with pytest.raises(QuotaExceeded, match="registered models"):
            reg.create_registered_model("m2")
        dep.create_deployment("d1", [TrafficRoute("models:/m1/1", 100)])
        with pytest.raises(QuotaExceeded):
            dep.create_deployment("d2", [TrafficRoute("models:/m1/1", 100)])
        run = PipelineRun("r1", "p", "mod:p", {}, PENDING, creation_time=int(time.time() * 1000))
        pipes.create_run(run)
        with pytest.raises(QuotaExceeded, match="concurrent pipeline runs"):
            pipes.create_run(PipelineRun("r2", "p", "mod:p", {}, PENDING))
        pipes.update_run("r1", status=SUCCEEDED)
        pipes.create_run(PipelineRun("r2", "p", "mod:p", {}, PENDING))  # room again
    assert _count(store, "registered_models") == 1 and _count(store, "deployments") == 1


def test_bad_limits_are_refused(store: SqlStore) -> None:
    for bad in ({"runz": 1}, {"runs": -1}, {"runs": "10"}, {"runs": True}):
        with pytest.raises(InvalidParameterValue):
            quotas.set_limits(store.engine, "team-a", bad)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = start_server(tmp_path_factory.mktemp("quota-server"))
    yield srv
    srv.stop()


def test_over_rest_and_the_mlflow_client(server: LiveServer,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    base = server.url
    assert httpx.post(base + "/api/3.0/mlflow/workspaces", json={"name": "team-q"}).status_code \
        == 201
    r = httpx.put(base + "/api/loopml/v1/workspaces/team-q/quotas", json={"quotas": {"runs": 1}})
    assert r.status_code == 200 and r.json()["quotas"]["runs"] == {"limit": 1, "usage": 0}
    bad = httpx.put(base + "/api/loopml/v1/workspaces/team-q/quotas", json={"quotas": {"x": 1}})
    assert bad.status_code == 400
    monkeypatch.setenv("MLFLOW_TRACKING_URI", base)
    mlflow.set_tracking_uri(base)
    try:
        mlflow.set_workspace("team-q")
        eid = mlflow.create_experiment("quota-exp")
        mlflow.MlflowClient().create_run(eid)
        t0 = time.time()
        with pytest.raises(mlflow.exceptions.MlflowException, match="quota") as exc:
            mlflow.MlflowClient().create_run(eid)
        assert exc.value.error_code == "RESOURCE_EXHAUSTED"
        assert time.time() - t0 < 5  # a 403 is not retried (a 429 would be, for minutes)
    finally:
        mlflow.set_workspace(None)
    raw = httpx.post(base + "/api/2.0/mlflow/runs/create", json={"experiment_id": eid},
                     headers={"X-MLFLOW-WORKSPACE": "team-q"})
    body = raw.json()
    assert raw.status_code == 403 and body["details"]["usage"] == 1
    assert body["details"]["workspace"] == "team-q"


def test_artifact_bytes_are_metered_at_upload(server: LiveServer) -> None:
    base = server.url
    ws = {"X-MLFLOW-WORKSPACE": "team-art"}
    assert httpx.post(base + "/api/3.0/mlflow/workspaces", json={"name": "team-art"}).status_code \
        == 201
    httpx.put(base + "/api/loopml/v1/workspaces/team-art/quotas",
              json={"quotas": {"artifact_bytes": 100}})
    eid = httpx.post(base + "/api/2.0/mlflow/experiments/create", json={"name": "art-exp"},
                     headers=ws).json()["experiment_id"]
    rid = httpx.post(base + "/api/2.0/mlflow/runs/create", json={"experiment_id": eid},
                     headers=ws).json()["run"]["info"]["run_id"]
    url = f"{base}/api/2.0/mlflow-artifacts/artifacts/{eid}/{rid}/artifacts"
    # No header: the bytes still count against the experiment's workspace.
    assert httpx.put(f"{url}/a.bin", content=b"x" * 60).status_code == 200
    refused = httpx.put(f"{url}/b.bin", content=b"x" * 60)
    assert refused.status_code == 403
    assert refused.json()["details"] == {
        "quota": "artifact_bytes", "workspace": "team-art", "limit": 100, "usage": 60,
        "raised_by": refused.json()["details"]["raised_by"]}
    assert httpx.get(f"{url}/b.bin").status_code == 404  # nothing stored
    report = httpx.get(base + "/api/loopml/v1/workspaces/team-art/quotas").json()["quotas"]
    assert report["artifact_bytes"] == {"limit": 100, "usage": 60}


def test_replicas_and_executor_cpus_gpus(store: SqlStore) -> None:
    """Replicas of deployments and the cores/GPUs pipeline runs ask for are quotas too; a
    refusal names the quota, the usage and who raises it, and writes nothing (no row, no
    event, no revision)."""
    quotas.set_limits(store.engine, "team-a", {"replicas": 4, "cpus": 8, "gpus": 1})
    reg, dep, pipes = get_registry_store(store), get_deployment_store(store), \
        get_pipeline_store(store)

    def events() -> int:
        return len(store.read_events(types=["deployment.updated", "pipeline_run.created"]))

    with use_workspace("team-a"):
        reg.create_registered_model("m")
        reg.create_model_version("m", "/tmp/m")  # noqa: S108 - a path, never read
        route = [TrafficRoute("models:/m/1", 100)]
        dep.create_deployment("d1", route, replicas=3)
        before = events()
        with pytest.raises(QuotaExceeded, match="replicas") as e:
            dep.create_deployment("d2", route, replicas=2)
        assert (e.value.details["quota"], e.value.details["usage"],
                e.value.details["limit"]) == ("replicas", 3, 4)
        assert "quota set team-a --replicas" in e.value.details["raised_by"]
        with pytest.raises(QuotaExceeded):
            dep.update_deployment("d1", replicas=5)
        assert dep.get_deployment("d1").revision == 1 and events() == before
        assert [d.name for d in dep.list_deployments()] == ["d1"]
        assert dep.update_deployment("d1", replicas=1).replicas == 1  # scaling down: free
        dep.create_deployment("d2", route, replicas=3)  # room again

        def run(rid: str, cpus: float, gpus: float) -> PipelineRun:
            return PipelineRun(rid, "p", "mod:p", {}, PENDING, cpus=cpus, gpus=gpus)

        pipes.create_run(run("r1", 6, 0.5))
        before = events()
        with pytest.raises(QuotaExceeded, match="cpus") as e:
            pipes.create_run(run("r2", 4, 0))
        assert (e.value.details["usage"], e.value.details["limit"]) == (6, 8)
        with pytest.raises(QuotaExceeded, match="gpus"):
            pipes.create_run(run("r3", 1, 1))  # half a GPU in use counts as one
        assert [r.run_id for r in pipes.list_runs()] == ["r1"] and events() == before
        pipes.update_run("r1", status=SUCCEEDED)
        assert pipes.create_run(run("r2", 4, 1)).cpus == 4  # finished runs free theirs
    assert quotas.report(store.engine.connect(), "team-a")["cpus"] == {"limit": 8, "usage": 4}


def test_a_pipeline_run_asks_for_its_largest_step() -> None:
    from loopml.pipelines import pipeline, step
    from loopml.pipelines._engine import requested

    @step(resources={"cpus": 2})
    def small() -> int:
        return 1

    @step(resources={"cpus": 4, "gpus": 1})
    def big(x: int) -> int:
        return x

    @pipeline
    def train():  # type: ignore[no-untyped-def]
        big(small())

    assert requested(train) == (4.0, 1.0)
