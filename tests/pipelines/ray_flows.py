"""Steps for the Ray tests: placement by declared resources."""

from __future__ import annotations

from loopml.pipelines import pipeline, step


def _node() -> dict:  # type: ignore[type-arg]
    import ray

    return {"node": ray.get_runtime_context().get_node_id()}


@step(resources={"cpus": 1, "trainer": 1})
def on_trainer() -> dict:  # type: ignore[type-arg]
    return _node()


@step(resources={"cpus": 1, "head_node": 1})
def on_head() -> dict:  # type: ignore[type-arg]
    return _node()


@step(resources={"cpus": 0.5})
def merge(a: dict, b: dict) -> int:  # type: ignore[type-arg]
    return len({a["node"], b["node"]})


@pipeline
def placed():  # type: ignore[no-untyped-def]
    merge(on_trainer(), on_head())
