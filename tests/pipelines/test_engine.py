"""Running pipelines: outputs, records, caching, retries, timeouts, failure isolation, resume,
and the process executor (including a worker that dies)."""

from __future__ import annotations

import pytest

from loopml.pipelines import resume, run
from loopml.store import get_pipeline_store
from loopml.tracking._client import TrackingClient
from tests.pipelines import flows


@pytest.fixture
def client(tmp_path) -> TrackingClient:  # type: ignore[no-untyped-def]
    from loopml.store.sql import SqlStore

    return TrackingClient(store=SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}",
                                         str(tmp_path / "artifacts")))


def test_run_records_steps_outputs_and_tracking(client: TrackingClient) -> None:
    res = flows.training.run({"n": "40", "c": "0.5"}, client=client)  # CLI-style strings
    assert res.succeeded, res.run.error
    assert res.run.params == {"n": 40, "c": 0.5}
    assert set(res.steps) == {"make", "split", "fit", "evaluate"}
    assert all(s.status == "SUCCEEDED" and s.attempts == 1 for s in res.steps.values())
    assert res.output("evaluate")["rows"] == 8
    assert len(res.output("split", "train")) == 32
    # Stored outputs carry digests; inputs point at the outputs they consumed.
    train_ref = res.steps["split"].outputs["train"]
    assert train_ref["kind"] == "pandas" and len(train_ref["digest"]) == 64
    assert res.steps["fit"].inputs["train"]["digest"] == train_ref["digest"]
    assert res.steps["fit"].inputs["c"] == {"value": 0.5}
    assert res.steps["fit"].outputs["output"]["kind"] == "model"
    # Only the step that logged got a tracking run, a child of the pipeline's run.
    assert res.steps["make"].tracking_run_id is None
    child = client.get_run(str(res.steps["fit"].tracking_run_id))
    assert child.data.tags["mlflow.parentRunId"] == res.run.tracking_run_id
    assert child.data.params["c"] == "0.5" and child.data.metrics["train_rows"].value == 32
    parent = client.get_run(str(res.run.tracking_run_id))
    assert parent.info.status == "FINISHED" and parent.data.params["n"] == "40"
    # Captured stdout is an artifact of the step.
    assert res.steps["make"].log_uri and res.steps["make"].log_uri.endswith("logs-1.txt")
    store = get_pipeline_store(client.store)
    assert store.get_run(res.run_id).status == "SUCCEEDED"
    events = [e.type for e in client.store.read_events(types=["pipeline_run.created",
                                                             "pipeline_run.finished"])]
    assert events == ["pipeline_run.created", "pipeline_run.finished"]


def test_cache_hits_and_opt_outs(client: TrackingClient) -> None:
    first = flows.training.run({"n": 40}, client=client)
    again = flows.training.run({"n": 40}, client=client)
    assert {s.status for s in again.steps.values()} == {"CACHED"}
    assert again.steps["fit"].cached_from == first.run_id
    assert again.output("evaluate") == first.output("evaluate")
    changed = flows.training.run({"n": 40, "c": 2.0}, client=client)
    status = {n: s.status for n, s in changed.steps.items()}
    assert status == {"make": "CACHED", "split": "CACHED", "fit": "SUCCEEDED",
                      "evaluate": "SUCCEEDED"}
    off = flows.training.run({"n": 40}, client=client, cache=False)
    assert {s.status for s in off.steps.values()} == {"SUCCEEDED"}


def test_step_level_cache_off(client: TrackingClient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from loopml.pipelines import pipeline, step

    calls = []

    @step(cache=False)
    def always(x: int) -> int:
        calls.append(x)
        return x

    @pipeline
    def p(x: int = 1):  # type: ignore[no-untyped-def]
        always(x)

    p.run(client=client)
    p.run(client=client)
    assert calls == [1, 1]


def test_retries_then_success(client: TrackingClient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from loopml.pipelines import pipeline

    @pipeline
    def p(marker_dir: str):  # type: ignore[no-untyped-def]
        flows.flaky(marker_dir, fail_times=2)

    res = p.run({"marker_dir": str(tmp_path / "m")}, client=client)
    assert res.succeeded
    assert res.steps["flaky"].attempts == 3 and res.output("flaky") == 3


def test_failure_stops_dependants_but_not_independent_branches_then_resume(
        client: TrackingClient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "m"
    res = flows.branches.run({"marker_dir": str(marker)}, client=client)
    assert res.status == "FAILED" and "breaks" in str(res.run.error)
    st = {n: s.status for n, s in res.steps.items()}
    assert st == {"breaks": "FAILED", "after": "UPSTREAM_FAILED", "independent": "SUCCEEDED",
                  "flaky": "SUCCEEDED", "after_2": "SUCCEEDED"}
    assert "ValueError: broken until" in str(res.steps["breaks"].error)
    assert client.get_run(str(res.run.tracking_run_id)).info.status == "FAILED"
    (marker / "fixed").touch()
    again = resume(res.run_id, client=client)
    assert again.succeeded and again.run_id == res.run_id and again.run.attempt == 2
    assert again.steps["breaks"].status == "SUCCEEDED"
    assert again.steps["after"].status == "SUCCEEDED"
    # Steps that had succeeded were not run again.
    assert len(list(marker.glob("independent-*"))) == 1
    with pytest.raises(Exception, match="nothing to resume"):
        resume(res.run_id, client=client)


def test_in_process_timeout_fails_the_step(client: TrackingClient) -> None:
    res = flows.slow.run({"seconds": 30}, client=client)
    assert res.status == "FAILED"
    assert "timed out after 1s" in str(res.steps["sleepy"].error)


def test_process_executor_timeout_and_parallel_workers(client: TrackingClient) -> None:
    res = flows.slow.run({"seconds": 30}, client=client, executor="process:2")
    assert res.status == "FAILED" and "timed out" in str(res.steps["sleepy"].error)
    par = flows.parallel.run(client=client, executor="process:2", cache=False)
    assert par.succeeded
    import os

    pids = {par.output("where")["pid"], par.output("where_2")["pid"]}
    assert os.getpid() not in pids


def test_process_worker_killed_mid_step_is_retried(client: TrackingClient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    res = flows.crashing.run({"marker_dir": str(tmp_path / "m")}, client=client,
                             executor="process:1")
    assert res.succeeded, res.run.error
    assert res.steps["dies_once"].attempts == 2


def test_unstorable_output_at_run_time(client: TrackingClient) -> None:
    res = flows.bad_at_runtime.run(client=client)
    assert res.status == "FAILED"
    err = str(res.steps["bad_output"].error)
    assert "cannot store between steps" in err and "Return a pandas/polars DataFrame" in err


def test_resume_needs_an_importable_pipeline(client: TrackingClient) -> None:
    from loopml.errors import InvalidState
    from loopml.pipelines import pipeline, step

    @step
    def boom() -> int:
        raise RuntimeError("no")

    @pipeline
    def local():  # type: ignore[no-untyped-def]
        boom()

    res = local.run(client=client)
    with pytest.raises(InvalidState, match="resume it from Python"):
        resume(res.run_id, client=client)


def test_run_from_python_function_call_outside_pipeline() -> None:
    # Outside a pipeline a step is a plain function.
    assert flows.after(1) == 2
    assert list(flows.make(3)["x"]) == [0.0, 1.0, 2.0]


def test_run_entry_point(client: TrackingClient) -> None:
    res = run(flows.training, {"n": 30}, client=client, executor="inprocess")
    assert res.succeeded


def test_lineage_from_version_to_pipeline_step(client: TrackingClient) -> None:
    from loopml.models._log import register_model
    from loopml.registry.lineage import lineage
    from loopml.store import get_registry_store
    from loopml.tracking._fluent import using_client

    res = flows.training.run({"n": 30}, client=client)
    fit_run = str(res.steps["fit"].tracking_run_id)
    model = res.output("fit")
    from loopml.models import log_model

    with using_client(client):
        log_model(model, "model", run_id=fit_run)
    mv = register_model(f"runs:/{fit_run}/model", "piped", client=client)
    g = lineage(client.store, get_registry_store(client.store),
                model_uri=f"models:/piped/{mv.version}").to_dict()
    kinds = {n["id"]: n["kind"] for n in g["nodes"]}
    step_id = f"pipeline_step:{res.run_id}/fit"
    assert kinds[step_id] == "pipeline_step" and kinds[f"pipeline_run:{res.run_id}"] == "pipeline_run"
    edges = {(e["from"], e["to"], e["relation"]) for e in g["edges"]}
    assert (step_id, f"run:{fit_run}", "logged_to") in edges
    assert (f"pipeline_run:{res.run_id}", step_id, "ran") in edges
