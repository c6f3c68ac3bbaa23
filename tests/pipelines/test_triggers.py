"""Cron schedules and event triggers: each fires once (even with two runners), events pass
to the pipeline, and runs recorded before a crash are started on restart."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from loopml.errors import InvalidParameterValue
from loopml.pipelines import PipelineRegistry
from loopml.pipelines.triggers import TriggerRunner, next_fire, validate_trigger
from loopml.store import get_pipeline_store
from loopml.store.pipelines_base import PipelineStore, Trigger
from loopml.store.sql import SqlStore

# What `loopml server --pipelines` would register: the runner starts only these.
RUNNABLE = PipelineRegistry.load("tests.pipelines.flows:tick,tests.pipelines.flows:on_event")


@pytest.fixture
def tracking(tmp_path) -> Iterator[SqlStore]:  # type: ignore[no-untyped-def]
    s = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
    yield s
    s.close()


def _wait(store: PipelineStore, n: int, timeout: float = 30) -> list:  # type: ignore[type-arg]
    deadline = time.time() + timeout
    while time.time() < deadline:
        runs = store.list_runs()
        if len(runs) >= n and all(r.status in ("SUCCEEDED", "FAILED") for r in runs):
            return runs
        time.sleep(0.05)
    raise AssertionError(f"runs did not finish: {store.list_runs()}")


def test_cron_fires_once_per_due_time_even_with_two_runners(tracking: SqlStore, tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = get_pipeline_store(tracking)
    now = int(time.time() * 1000)
    store.create_trigger(validate_trigger(Trigger(
        "tick", "tests.pipelines.flows:tick", "cron", {"cron": "*/5 * * * *"},
        {"marker_dir": str(tmp_path / "m")}, marker=now - 1)))
    a, b = TriggerRunner(tracking, store, RUNNABLE), TriggerRunner(tracking, store, RUNNABLE)
    fired = a.run_once(now) + b.run_once(now)
    assert len(fired) == 1
    runs = _wait(store, 1)
    assert runs[0].status == "SUCCEEDED" and runs[0].trigger["kind"] == "cron"
    assert runs[0].trigger["scheduled_for"] == now - 1
    t = store.list_triggers()[0]
    assert t.marker == next_fire("*/5 * * * *", now) and t.marker > now
    # Nothing more until the next due time; then one run, not one per missed slot.
    assert a.run_once(now + 1000) == []
    assert len(a.run_once(now + 3_600_000)) == 1


def test_event_trigger_gets_the_event(tracking: SqlStore, tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = get_pipeline_store(tracking)
    store.create_trigger(validate_trigger(Trigger(
        "on-drift", "tests.pipelines.flows:on_event", "event",
        {"types": ["alert.firing"], "subject": "drift*/fraud"},
        {"marker_dir": str(tmp_path / "m")})))
    runner = TriggerRunner(tracking, store, RUNNABLE)
    tracking.append_event("alert.firing", "latency/fraud", {"value": 1})  # subject mismatch
    tracking.append_event("alert.resolved", "drift_share/fraud", {})  # type mismatch
    seq = tracking.append_event("alert.firing", "drift_share/fraud", {"value": 0.6})
    assert len(runner.run_once()) == 1
    assert runner.run_once() == []  # the cursor moved past what was consumed
    runs = _wait(store, 1)
    assert runs[0].status == "SUCCEEDED", runs[0].error
    assert runs[0].params["event"]["seq"] == seq
    assert runs[0].params["event"]["payload"] == {"value": 0.6}
    assert store.list_triggers()[0].marker == seq


def test_model_version_and_dataset_events_trigger(tracking: SqlStore, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from loopml.store import get_registry_store
    from loopml.tracking._client import TrackingClient
    from loopml.tracking._datasets import dataset_input

    store = get_pipeline_store(tracking)
    for name, kind in (("on-version", "model_version.created"),
                       ("on-data", "dataset.version_created")):
        store.create_trigger(validate_trigger(Trigger(
            name, "tests.pipelines.flows:on_event", "event", {"types": [kind]},
            {"marker_dir": str(tmp_path / name)})))
    client = TrackingClient(store=tracking)
    run = client.create_run("0", "r")
    ds = dataset_input(np.arange(10).reshape(5, 2), "sensors", "", "training")
    tracking.log_inputs(run.info.run_id, [ds])
    tracking.log_inputs(run.info.run_id, [ds])  # the same version again: no new event
    reg = get_registry_store(tracking)
    reg.create_registered_model("m")
    reg.create_model_version("m", f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    assert len(TriggerRunner(tracking, store, RUNNABLE).run_once()) == 2
    runs = _wait(store, 2)
    subjects = sorted(r.params["event"]["subject"] for r in runs)
    assert subjects == ["m/1", "sensors"]


def test_pending_runs_are_started_after_a_crash(tracking: SqlStore, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from loopml.pipelines.triggers import _pending

    store = get_pipeline_store(tracking)
    t = store.create_trigger(validate_trigger(Trigger(
        "tick", "tests.pipelines.flows:tick", "cron", {"cron": "0 0 1 1 *"},
        {"marker_dir": str(tmp_path / "m")})))
    # Fired (marker moved, run recorded) and then the server died before starting it.
    rec = _pending(t, {"scheduled_for": t.marker})
    assert store.fire_trigger(t.name, t.marker, t.marker + 1, rec)
    # A PENDING run that no trigger of the same pipeline recorded is never started.
    forged = _pending(Trigger("ghost", "os:system", "cron", {}), {})
    store.create_run(forged)
    TriggerRunner(tracking, store, RUNNABLE).resume_pending()
    deadline = time.time() + 30
    while store.get_run(rec.run_id).status not in ("SUCCEEDED", "FAILED") and time.time() < deadline:
        time.sleep(0.05)
    assert store.get_run(rec.run_id).status == "SUCCEEDED"
    assert store.get_run(forged.run_id).status == "PENDING"


@pytest.mark.parametrize("trigger,match", [
    (Trigger("x", "m:p", "cron", {"cron": "every minute"}), "is not a cron expression"),
    (Trigger("x", "m:p", "event", {"types": []}), "give the event types"),
    (Trigger("x", "m:p", "webhook", {}), "must be 'cron' or 'event'"),
    (Trigger("x", "nocolon", "cron", {"cron": "* * * * *"}), "module:attr"),
])
def test_bad_triggers(trigger: Trigger, match: str) -> None:
    with pytest.raises(InvalidParameterValue, match=match):
        validate_trigger(trigger)


def test_a_trigger_whose_pipeline_is_not_registered_fails_its_run(tracking: SqlStore) -> None:
    # Written straight to the database (as `loopml pipeline trigger --tracking-uri sqlite:...`
    # can): the runner refuses it at fire time without importing anything.
    store = get_pipeline_store(tracking)
    store.create_trigger(validate_trigger(Trigger(
        "gone", "tests.pipelines.nope:p", "event", {"types": ["x.y"]})))
    tracking.append_event("x.y", "s", {})
    TriggerRunner(tracking, store, RUNNABLE).run_once()
    run = store.list_runs()[0]
    assert run.status == "FAILED" and "is not registered" in str(run.error)
    assert "loopml server --pipelines" in str(run.error)
