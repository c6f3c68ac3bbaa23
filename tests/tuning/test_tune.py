"""Tuning on Optuna: samplers, pruners, tracked child runs, failures contained, parallel
trials on the process executor, registering the best model, and tuning inside a step."""

from __future__ import annotations

import optuna
import pytest

from loopml.errors import InvalidParameterValue
from loopml.store.sql import SqlStore
from loopml.tracking._client import TrackingClient
from loopml.tuning import choice, loguniform, randint, tune, uniform
from tests.tuning import objectives as o


@pytest.fixture
def client(tmp_path) -> TrackingClient:  # type: ignore[no-untyped-def]
    return TrackingClient(store=SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}",
                                         str(tmp_path / "artifacts")))


SPACE = {"x": uniform(-5, 5), "y": randint(0, 3)}


def test_tpe_finds_the_minimum_and_tracks_every_trial(client: TrackingClient) -> None:
    r = tune(o.quadratic, SPACE, n_trials=40, seed=0, client=client)
    assert len(r.trials) == 40 and r.best_value < 0.5 and r.best_params["y"] == 0
    children = client.search_runs(
        [client.get_run(r.parent_run_id).info.experiment_id],
        f"tags.`mlflow.parentRunId` = '{r.parent_run_id}'", max_results=100)
    assert len(children) == 40
    best = client.get_run(r.best_run_id)
    assert best.data.params["y"] == "0" and best.data.tags["loopml.trial.state"] == "COMPLETE"
    assert best.data.metrics["objective"].value == pytest.approx(r.best_value)
    parent = client.get_run(r.parent_run_id)
    assert parent.data.tags["loopml.tuning.best_run_id"] == r.best_run_id
    assert parent.info.status == "FINISHED"


@pytest.mark.parametrize("sampler", ["random", "cmaes"])
def test_other_samplers(client: TrackingClient, sampler: str) -> None:
    r = tune(o.quadratic, {"x": uniform(-5, 5), "y": randint(0, 3)}, n_trials=15,
             sampler=sampler, seed=1, client=client)
    assert len(r.trials) == 15 and all(t.state == "COMPLETE" for t in r.trials)


def test_grid_runs_the_whole_grid(client: TrackingClient) -> None:
    r = tune(o.quadratic, {"x": choice([1.0, 2.0, 3.0]), "y": randint(0, 1)}, n_trials=None,
             sampler="grid", client=client)
    assert sorted((t.params["x"], t.params["y"]) for t in r.trials) == [
        (1.0, 0), (1.0, 1), (2.0, 0), (2.0, 1), (3.0, 0), (3.0, 1)]
    assert r.best_params == {"x": 2.0, "y": 0}


@pytest.mark.parametrize("pruner", ["median", "asha"])
def test_pruned_trials_are_marked(client: TrackingClient, pruner: str) -> None:
    r = tune(o.curve, {"x": uniform(0, 10)}, n_trials=25, sampler="random", pruner=pruner,
             seed=3, client=client)
    pruned = [t for t in r.trials if t.state == "PRUNED"]
    assert pruned, "some bad trials should have been pruned"
    run = client.get_run(pruned[0].run_id)
    assert run.info.status == "KILLED" and run.data.tags["loopml.trial.state"] == "PRUNED"
    history = client.get_metric_history(r.best_run_id, "objective")
    assert len(history) >= 10  # intermediate values by step, then the final one


def test_failures_fail_only_their_trial(client: TrackingClient) -> None:
    r = tune(o.misbehaves, {"kind": choice(["raise", "nan", "text", "slow", "ok"])},
             n_trials=None, sampler="grid", timeout=1.0, client=client)
    state = {t.params["kind"]: t for t in r.trials}
    assert state["ok"].state == "COMPLETE" and r.best_params == {"kind": "ok"}
    assert "objective blew up" in str(state["raise"].error)
    assert state["nan"].error == "The objective returned NaN."
    assert "return a number" in str(state["text"].error)
    assert "timed out after 1s" in str(state["slow"].error)
    assert client.get_run(state["raise"].run_id).info.status == "FAILED"
    assert client.get_run(state["ok"].run_id).data.metrics["fluent_metric"].value == 1.0


def test_parallel_trials_on_the_process_executor_with_pruning(client: TrackingClient) -> None:
    r = tune(o.curve, {"x": uniform(0, 10)}, n_trials=16, sampler="random", pruner="median",
             parallelism=2, executor="process", seed=5, client=client)
    assert len(r.trials) == 16
    assert {t.state for t in r.trials} <= {"COMPLETE", "PRUNED"}
    assert any(t.state == "PRUNED" for t in r.trials)
    failing = tune(o.misbehaves, {"kind": choice(["raise", "ok", "slow"])}, n_trials=None,
                   sampler="grid", parallelism=2, executor="process", timeout=1.0,
                   client=client)
    assert {t.params["kind"]: t.state for t in failing.trials} == {
        "raise": "FAIL", "ok": "COMPLETE", "slow": "FAIL"}


def test_register_best_model(client: TrackingClient) -> None:
    from loopml.store import get_registry_store

    r = tune(o.with_model, {"c": loguniform(0.1, 10.0)}, n_trials=5, seed=0, client=client)
    mv = r.register_best("tuned")
    assert mv.run_id == r.best_run_id
    assert get_registry_store(client.store).get_model_version("tuned", mv.version).source.endswith(
        "/model")
    no_model = tune(o.quadratic, SPACE, n_trials=2, client=client)
    from loopml.errors import InvalidState

    with pytest.raises(InvalidState, match="trial.log_model"):
        no_model.register_best("nothing")


def test_tune_as_a_pipeline_step(client: TrackingClient) -> None:
    from loopml.pipelines import pipeline, step

    @step
    def search(n: int) -> dict:
        r = tune(o.quadratic, {"x": uniform(-5, 5), "y": randint(0, 1)}, n_trials=n, seed=2)
        return {"best": r.best_params, "parent": r.parent_run_id}

    @pipeline
    def p(n: int = 8):  # type: ignore[no-untyped-def]
        search(n)

    res = p.run(client=client)
    assert res.succeeded, res.run.error
    out = res.output("search")
    # The trials hang under the step's run, which hangs under the pipeline's run.
    assert out["parent"] == res.steps["search"].tracking_run_id
    step_run = client.get_run(out["parent"])
    assert step_run.data.tags["mlflow.parentRunId"] == res.run.tracking_run_id


@pytest.mark.parametrize("kwargs,match", [
    ({"space": {}}, "non-empty dict"),
    ({"space": {"x": "wide"}}, "is not a distribution"),
    ({"space": {"x": uniform(-1, 1)}, "sampler": "grid"}, "enumerable"),
    ({"sampler": "bayes"}, "Unknown sampler"),
    ({"pruner": "hyperband"}, "Unknown pruner"),
    ({"direction": "down"}, "direction must be"),
    ({"n_trials": 0}, "n_trials must be >= 1"),
    ({"n_trials": None}, "n_trials is required"),
    ({"parallelism": 0}, "parallelism must be >= 1"),
    ({"executor": "spark"}, "Unknown executor"),
])
def test_bad_arguments(client: TrackingClient, kwargs: dict, match: str) -> None:  # type: ignore[type-arg]
    args = {"space": SPACE, "n_trials": 3, **kwargs}
    with pytest.raises(InvalidParameterValue, match=match):
        tune(o.quadratic, client=client, **args)


def test_bad_distributions() -> None:
    with pytest.raises(InvalidParameterValue, match="low must be > 0"):
        loguniform(0, 1)
    with pytest.raises(InvalidParameterValue, match="low <= high"):
        randint(5, 1)
    with pytest.raises(InvalidParameterValue, match="nothing to choose"):
        choice([])
    assert isinstance(uniform(0, 1), optuna.distributions.FloatDistribution)
