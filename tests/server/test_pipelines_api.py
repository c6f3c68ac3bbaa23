"""Pipelines through the server: started and resumed inside it, driven remotely through
the REST store, and bad requests answered with a 400 that says what to do."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import LiveServer, start_server

API = "/api/loopml/v1/pipelines"
# Registered at app creation, like `loopml server --pipelines ...`: the only pipelines the
# server runs.
FLOWS = "tests.pipelines.flows:training"


def _runnable():  # type: ignore[no-untyped-def]
    from loopml.pipelines import PipelineRegistry

    return PipelineRegistry.load(FLOWS)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    srv = start_server(tmp_path_factory.mktemp("pipelines-api"), runnable=_runnable())
    yield srv
    srv.stop()


def _wait(url: str, run_id: str, timeout: float = 60) -> dict:  # type: ignore[type-arg]
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = httpx.get(f"{url}{API}/runs/{run_id}").json()
        if d["run"]["status"] in ("SUCCEEDED", "FAILED"):
            return d  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish")


def test_start_in_server_and_read_back(server: LiveServer) -> None:
    r = httpx.post(f"{server.url}{API}/runs/start", json={
        "pipeline": "tests.pipelines.flows:training", "params": {"n": 30}})
    assert r.status_code == 200, r.text
    d = _wait(server.url, r.json()["run_id"])
    assert d["run"]["status"] == "SUCCEEDED", d["run"]["error"]
    steps = {s["step"]: s for s in d["steps"]}
    assert set(steps) == {"make", "split", "fit", "evaluate"}
    assert steps["fit"]["duration_ms"] >= 0
    # Outputs were written under the server's artifact root, not through HTTP.
    ref = steps["evaluate"]["outputs"]["output"]
    assert ref["uri"].startswith("mlflow-artifacts:")
    stored = list(Path(server.artifacts).rglob("steps/evaluate/output.json"))
    assert len(stored) == 1
    listed = httpx.get(f"{server.url}{API}/runs", params={"pipeline": "training"}).json()
    assert d["run"]["run_id"] in [x["run_id"] for x in listed["runs"]]


def test_remote_engine_through_rest(server: LiveServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from loopml.tracking._client import TrackingClient
    from tests.pipelines import flows

    client = TrackingClient(server.url)
    for executor in ("inprocess", "process:1"):
        res = flows.training.run({"n": 30}, client=client, executor=executor, cache=False)
        assert res.succeeded, res.run.error
        assert res.output("evaluate")["rows"] == 6
    again = flows.training.run({"n": 30}, client=client)
    assert {s.status for s in again.steps.values()} == {"CACHED"}


def test_start_by_short_name(server: LiveServer) -> None:
    r = httpx.post(f"{server.url}{API}/runs/start", json={"pipeline": "training",
                                                         "params": {"n": 20}})
    assert r.status_code == 200, r.text
    assert _wait(server.url, r.json()["run_id"])["run"]["ref"] == FLOWS


@pytest.mark.parametrize("body,status,message", [
    # Unregistered names are refused before anything is looked at (403, no import).
    ({"pipeline": "tests.pipelines.nothere:p"}, 403, "is not registered"),
    ({"pipeline": "tests.pipelines.flows:make"}, 403, "loopml server --pipelines"),
    ({"pipeline": "no_colon"}, 403, "is not registered"),
    ({"pipeline": "tests.pipelines.flows:training", "params": [1]}, 400, "params"),
    ({"pipeline": "tests.pipelines.flows:training", "params": {"nn": 1}}, 400,
     "Did you mean 'n'?"),
    ({"pipeline": "tests.pipelines.flows:training", "executor": "spark"}, 400,
     "Unknown executor"),
    ({}, 400, "pipeline"),
])
def test_bad_start_requests(server: LiveServer, body: dict, status: int, message: str) -> None:  # type: ignore[type-arg]
    r = httpx.post(f"{server.url}{API}/runs/start", json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["message"]


def test_bad_record_requests(server: LiveServer) -> None:
    r = httpx.get(f"{server.url}{API}/runs/{'0' * 32}")
    assert r.status_code == 404 and "loopml pipeline runs" in r.json()["message"]
    r = httpx.post(f"{server.url}{API}/runs/create", json={"run_id": "x", "pipeline": 5})
    assert r.status_code == 400 and "pipeline" in r.json()["message"]
    r = httpx.post(f"{server.url}{API}/triggers", json={
        "name": "t", "ref": FLOWS, "kind": "cron", "spec": {"cron": "soon"}})
    assert r.status_code == 400 and "cron expression" in r.json()["message"]
    r = httpx.post(f"{server.url}{API}/runs/{'0' * 32}/resume", json={})
    assert r.status_code == 404
    r = httpx.post(f"{server.url}{API}/cache/abc", json={"run_id": "r", "step": "s",
                                                        "outputs": "nope"})
    assert r.status_code == 400


def test_starting_needs_admin_when_auth_is_on(tmp_path) -> None:  # type: ignore[no-untyped-def]
    srv = start_server(tmp_path / "auth", token="s3cret", runnable=_runnable())
    try:
        r = httpx.post(f"{srv.url}{API}/runs/start",
                       json={"pipeline": "tests.pipelines.flows:training"})
        assert r.status_code == 401
        r = httpx.post(f"{srv.url}{API}/runs/start", headers={"Authorization": "Bearer s3cret"},
                       json={"pipeline": "tests.pipelines.flows:training", "params": {"n": 20}})
        assert r.status_code == 200
        _wait_auth = time.time() + 60
        while time.time() < _wait_auth:
            d = httpx.get(f"{srv.url}{API}/runs/{r.json()['run_id']}",
                          headers={"Authorization": "Bearer s3cret"}).json()
            if d["run"]["status"] in ("SUCCEEDED", "FAILED"):
                break
            time.sleep(0.05)
        assert d["run"]["status"] == "SUCCEEDED"
    finally:
        srv.stop()


def test_routes_that_import_code_need_deploy() -> None:
    from loopml.security import Permission
    from loopml.server.app import create_app
    from loopml.server.routes import pipelines

    assert pipelines  # the module is registered in create_app's table
    import tempfile

    from loopml.server._factory import build_services

    with tempfile.TemporaryDirectory() as d:
        app = create_app(build_services(f"sqlite:///{d}/db", f"{d}/a"))
        perms = {(r.path, tuple(sorted(r.methods or []))): r.permission  # type: ignore[attr-defined]
                 for r in app.routes if r.path.startswith("/api/loopml/v1/pipelines")}
    # Deployer and above (issue 16): an editor's training-job token cannot start code.
    deploy = {p for p, perm in perms.items() if perm is Permission.DEPLOY}
    assert {p[0] for p in deploy} == {
        "/api/loopml/v1/pipelines/runs/start", "/api/loopml/v1/pipelines/runs/{run_id}/resume",
        "/api/loopml/v1/pipelines/triggers", "/api/loopml/v1/pipelines/triggers/{name}",
        "/api/loopml/v1/pipelines/triggers/{name}/fire"}
