"""Delete and restore of runs and experiments: loopml CLI and TrackingClient against a live
loopml server, cross-checked with the unmodified mlflow client (MlflowClient)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from loopml.cli.main import app
from loopml.tracking import TrackingClient
from tests.server.conftest import LiveServer, start_server

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    srv = start_server(tmp_path_factory.mktemp("del-restore"))
    yield srv
    srv.stop()


def _cli(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(app, list(args))
    return r.exit_code, r.output


def test_runs_delete_restore_cli_vs_mlflow_client(server: LiveServer) -> None:
    ml = MlflowClient(server.url)
    exp = ml.create_experiment("dr-runs")
    a, b = ml.create_run(exp).info.run_id, ml.create_run(exp).info.run_id
    code, out = _cli("runs", "delete", a, b, "--tracking-uri", server.url)
    assert code == 0, out
    assert "deleted run " + a in out
    assert {ml.get_run(r).info.lifecycle_stage for r in (a, b)} == {"deleted"}
    assert ml.search_runs([exp]) == []
    ml.restore_run(a)  # the mlflow client restores; loopml sees it
    lc = TrackingClient(server.url)
    assert lc.get_run(a).info.lifecycle_stage == "active"
    code, out = _cli("runs", "restore", b, "--tracking-uri", server.url)
    assert code == 0, out
    assert ml.get_run(b).info.lifecycle_stage == "active"
    ml.delete_run(b)  # and the other way round
    assert lc.get_run(b).info.lifecycle_stage == "deleted"
    lc.restore_run(b)
    assert ml.get_run(b).info.lifecycle_stage == "active"


def test_experiments_delete_restore_by_name_and_id(server: LiveServer) -> None:
    ml = MlflowClient(server.url)
    exp = ml.create_experiment("dr-exp")
    rid = ml.create_run(exp).info.run_id
    code, out = _cli("experiments", "delete", "dr-exp", "--tracking-uri", server.url)
    assert code == 0, out
    assert ml.get_experiment(exp).lifecycle_stage == "deleted"
    assert ml.get_run(rid).info.lifecycle_stage == "deleted"  # its runs too, as in MLflow
    code, out = _cli("experiments", "restore", exp, "--tracking-uri", server.url)
    assert code == 0, out
    assert ml.get_experiment(exp).lifecycle_stage == "active"
    assert ml.get_run(rid).info.lifecycle_stage == "active"
    ml.delete_experiment(exp)
    lc = TrackingClient(server.url)
    assert lc.store.get_experiment(exp).lifecycle_stage == "deleted"
    lc.restore_experiment(exp)
    assert ml.get_experiment(exp).lifecycle_stage == "active"


def test_unknown_ids_exit_2(server: LiveServer) -> None:
    code, out = _cli("runs", "delete", "f" * 32, "--tracking-uri", server.url)
    assert code == 2, out
    code, out = _cli("experiments", "restore", "no-such-exp", "--tracking-uri", server.url)
    assert code == 2 and "No experiment named" in out, out


def test_an_unknown_id_among_several_deletes_none(server: LiveServer) -> None:
    client = TrackingClient(server.url)
    exp = client.get_or_create_experiment("all-or-nothing").experiment_id
    a = client.create_run(exp).info.run_id
    b = client.create_run(exp).info.run_id
    code, out = _cli("runs", "delete", a, "f" * 32, b, "--tracking-uri", server.url)
    assert code == 2, out
    assert [client.get_run(r).info.lifecycle_stage for r in (a, b)] == ["active", "active"]
