"""The canary knows whether serving loaded its challenger: a serving process that cannot load
it reports so in the event log, and the controller rolls back at once with that cause. And
`loopml serve` on the local store resolves the mlflow-artifacts:/ models a server wrote."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from loopml.serving.repository import ModelRepository, ServingSettings
from loopml.serving.traffic import STATUS_EVENT, DeploymentWatcher
from loopml.store import get_deployment_store, get_registry_store
from loopml.tracking._fluent import using_client
from tests.automation.conftest import World


def _watch(world: World) -> DeploymentWatcher:
    deployments = get_deployment_store(world.tracking)
    return DeploymentWatcher(
        "pm", deployments.get_deployment, ModelRepository({}, ServingSettings()), {},
        report=lambda name, status: world.tracking.append_event(STATUS_EVENT, name, status))


def test_a_challenger_serving_cannot_load_is_rolled_back_at_once(world: World) -> None:
    from loopml.tracking._fluent import set_tracking_uri

    ctl = world.controller(canary={"max_seconds": 600})
    watcher = _watch(world)
    set_tracking_uri(f"sqlite:///{world.root / 'db.sqlite'}")  # serving loads in threads
    try:
        assert asyncio.run(watcher.refresh())  # the champion's revision loads
        loop = ctl.trigger("pm", "manual")
        assert loop is not None
        loop = world.drive(ctl, loop.loop_id, {"CANARY"})
        # The gate saw a good model; the files serving would load are gone.
        mv = get_registry_store(world.tracking).get_model_version("pm", 2)
        folder = Path(mv.storage_location.removeprefix("file://"))
        for f in folder.iterdir():
            if f.name != "MLmodel" and f.is_file():
                f.unlink()
        assert not asyncio.run(watcher.refresh())
        assert not asyncio.run(watcher.refresh())  # retried each poll, reported once
    finally:
        set_tracking_uri(None)
    t0 = time.time()
    loop = world.drive(ctl, loop.loop_id, {"ROLLED_BACK"}, timeout=10)
    assert time.time() - t0 < 10
    assert "models:/pm/2 did not load in serving" in str(loop.reason)
    assert world.routes() == [("models:/pm/1", 100.0)] and world.champion() == 1
    entry = ctl.loops.history("pm")[-1]
    assert entry.action == "rolled_back" and entry.inputs["serving"]["uri"] == "models:/pm/2"
    reports = world.tracking.read_events(types=[STATUS_EVENT])
    assert [e.payload["ready"] for e in reports] == [True, False]


def test_models_of_the_local_store_resolve_without_a_server_url(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A server on this store gave the run an mlflow-artifacts:/ URI; a client of the same
    SQLite file (what `loopml serve` is without --tracking-uri) reads it from the server's
    artifact root."""
    from sklearn.linear_model import LogisticRegression

    from loopml import models
    from loopml.store.sql import SqlStore
    from loopml.tracking._client import TrackingClient

    monkeypatch.setenv("LOOPML_HOME", str(tmp_path))
    monkeypatch.delenv("LOOPML_ARTIFACTS_DESTINATION", raising=False)
    db = f"sqlite:///{tmp_path / 'loopml.db'}"
    (tmp_path / "artifacts").mkdir()
    store = SqlStore(db, "mlflow-artifacts:")  # as `loopml server` does
    writer = TrackingClient(db, store=store, proxy_root=str(tmp_path / "artifacts"))
    run = writer.create_run("0", "r")
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    with using_client(writer):
        models.log_model(LogisticRegression().fit([[0], [1]], [0, 1]), "model",
                         run_id=run.info.run_id)
        models.register_model(f"runs:/{run.info.run_id}/model", "lr", client=writer)
    reader = TrackingClient(db)  # no server URL, no proxy root
    with using_client(reader):
        model = models.load("models:/lr/1")
    assert model.predict([[1]]).tolist() == [1]
