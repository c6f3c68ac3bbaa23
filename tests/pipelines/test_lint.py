"""Lint: every problem found before anything runs, each with a message that says what to do."""

from __future__ import annotations

import pytest

from loopml.pipelines import PipelineLintError, from_spec, pipeline, step
from tests.pipelines import flows


def _problems(fn, *a, **kw) -> list[str]:  # type: ignore[no-untyped-def]
    with pytest.raises(PipelineLintError) as e:
        fn(*a, **kw)
    return e.value.problems


def test_unknown_and_missing_parameters() -> None:
    ps = _problems(flows.training.lint, {"nn": 3, "c": "abc"})
    assert any("Unknown parameter 'nn'. Did you mean 'n'?" in p for p in ps)
    assert any("Parameter 'c': Expected float, got 'abc'." in p for p in ps)
    ps = _problems(flows.branches.lint, {})
    assert ps == ["Parameter 'marker_dir' has no default: pass it (--param marker_dir=...)."]


def test_missing_input() -> None:
    @step
    def needs(a: int, b: int) -> int:
        return a + b

    @pipeline
    def p():  # type: ignore[no-untyped-def]
        needs(1)

    ps = _problems(p.lint)
    assert ps == ["Step 'needs' needs input 'b' but nothing provides it: pass a step output, "
                  "a pipeline parameter or a value, e.g. needs(b=...)."]


def test_bad_arguments_are_reported_not_raised() -> None:
    @step
    def one(a: int) -> int:
        return a

    @pipeline
    def p():  # type: ignore[no-untyped-def]
        one(1, 2, 3)

    assert "too many positional arguments" in _problems(p.lint)[0]


def test_unserialisable_output_by_annotation() -> None:
    ps = _problems(flows.unstorable.lint)
    assert len(ps) == 1 and "returns_socket" in ps[0] and "cannot store" in ps[0]


def test_cycle_and_dangling_refs_in_a_declarative_pipeline() -> None:
    spec = {
        "name": "loop",
        "params": {"n": 3},
        "steps": {
            "a": {"step": "tests.pipelines.flows:after", "inputs": {"x": "${c}"}},
            "b": {"step": "tests.pipelines.flows:after", "inputs": {"x": "${a}"}},
            "c": {"step": "tests.pipelines.flows:after", "inputs": {"x": "${b}"}},
            "d": {"step": "tests.pipelines.flows:after", "inputs": {"x": "${nope}"}},
            "e": {"step": "tests.pipelines.flows:after", "inputs": {"x": "${params.m}"}},
            "f": {"step": "tests.pipelines.flows:split", "inputs": {"df": "${a.train}"}},
        },
    }
    ps = _problems(from_spec(spec).lint)
    text = "\n".join(ps)
    assert "Steps form a cycle: a -> c -> b -> a" in text
    assert "refers to step 'nope', which does not exist" in text
    assert "refers to parameter 'm', which the pipeline does not declare" in text
    assert "refers to output 'train' of 'a', which has outputs ['output']" in text


def test_declarative_pipeline_runs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from loopml.store.sql import SqlStore
    from loopml.tracking._client import TrackingClient

    spec = {"name": "chain", "params": {"x": 1}, "steps": {
        "first": {"step": "tests.pipelines.flows:after", "inputs": {"x": "${params.x}"}},
        "second": {"step": "tests.pipelines.flows:after", "inputs": {"x": "${first}"}}}}
    client = TrackingClient(store=SqlStore(f"sqlite:///{tmp_path / 'db'}", str(tmp_path / "a")))
    res = from_spec(spec).run({"x": 5}, client=client)
    assert res.succeeded and res.output("second") == 7


def test_empty_pipeline_and_bad_step_options() -> None:
    @pipeline
    def empty():  # type: ignore[no-untyped-def]
        return None

    assert _problems(empty.lint) == [
        "The pipeline has no steps: call at least one @step inside it."]
    from loopml.errors import InvalidParameterValue

    with pytest.raises(InvalidParameterValue, match="retries and retry_backoff must be >= 0"):
        step(retries=-1)(lambda: 1)


def test_lint_error_is_a_400() -> None:
    from loopml.errors import InvalidParameterValue

    assert issubclass(PipelineLintError, InvalidParameterValue)
