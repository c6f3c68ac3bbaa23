"""Checks that run before anything executes. Every problem is collected (not just the
first) and each message says how to fix it."""

from __future__ import annotations

import difflib
import inspect
import typing
from collections.abc import Mapping
from typing import Any

from loopml.errors import InvalidParameterValue
from loopml.pipelines._dsl import REQUIRED, OutputRef, ParamRef, Pipeline
from loopml.pipelines._materialize import type_storable


class PipelineLintError(InvalidParameterValue):
    def __init__(self, pipeline: str, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Pipeline {pipeline!r} has {len(problems)} problem(s):\n{lines}")


def _suggest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _cycles(p: Pipeline) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for u in sorted(p.nodes[n].upstream()):
            if u not in p.nodes:
                continue
            if state.get(u) == 1:
                found.append(stack[stack.index(u):] + [u])
            elif u not in state:
                visit(u)
        stack.pop()
        state[n] = 2

    for n in p.nodes:
        if n not in state:
            visit(n)
    return found


def coerce(value: Any, annotation: Any) -> Any:
    """A CLI string -> the parameter's annotated type (int, float, bool, str), else YAML."""
    if not isinstance(value, str):
        return value
    if annotation in (int, float):
        try:
            return annotation(value)
        except ValueError:
            raise InvalidParameterValue(
                f"Expected {annotation.__name__}, got {value!r}.") from None
    if annotation is bool:
        low = value.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise InvalidParameterValue(f"Expected true or false, got {value!r}.")
    if annotation is str:
        return value
    import yaml

    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def lint(p: Pipeline, params: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``p`` with ``params``; returns the resolved parameters or raises
    ``PipelineLintError`` listing every problem."""
    problems: list[str] = []
    known = list(p.params)
    resolved: dict[str, Any] = {}
    for k, v in params.items():
        if k not in p.params:
            problems.append(
                f"Unknown parameter {k!r}.{_suggest(k, known)} Pipeline {p.name!r} takes: "
                f"{', '.join(known) or 'no parameters'}.")
            continue
        try:
            resolved[k] = coerce(v, p.annotations.get(k))
        except InvalidParameterValue as e:
            problems.append(f"Parameter {k!r}: {e.message}")
    for k, default in p.params.items():
        if k not in resolved:
            if default is REQUIRED:
                problems.append(f"Parameter {k!r} has no default: pass it (--param {k}=...).")
            else:
                resolved[k] = default
    if not p.nodes:
        problems.append("The pipeline has no steps: call at least one @step inside it.")
    for cycle in _cycles(p):
        problems.append(
            f"Steps form a cycle: {' -> '.join(cycle)}. A step can only consume outputs of "
            "steps that come before it; remove one of these inputs.")
    for name, node in p.nodes.items():
        problems += node.problems
        s = node.step
        for arg, v in node.inputs.items():
            if isinstance(v, OutputRef):
                up = p.nodes.get(v.node)
                if up is None:
                    problems.append(
                        f"Step {name!r} input {arg!r} refers to step {v.node!r}, which does not "
                        f"exist.{_suggest(v.node, list(p.nodes))}")
                elif v.output not in up.step.outputs:
                    problems.append(
                        f"Step {name!r} input {arg!r} refers to output {v.output!r} of "
                        f"{v.node!r}, which has outputs {list(up.step.outputs)}.")
            elif isinstance(v, ParamRef) and v.name not in p.params:
                problems.append(
                    f"Step {name!r} input {arg!r} refers to parameter {v.name!r}, which the "
                    f"pipeline does not declare.{_suggest(v.name, known)}")
        for pname, param in s.signature.parameters.items():
            if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                continue
            if pname not in node.inputs and param.default is inspect.Parameter.empty:
                problems.append(
                    f"Step {name!r} needs input {pname!r} but nothing provides it: pass a step "
                    f"output, a pipeline parameter or a value, e.g. {s.name}({pname}=...).")
        problems += _output_problems(name, s)
    if problems:
        raise PipelineLintError(p.name, problems)
    return resolved


def _output_problems(name: str, s: Any) -> list[str]:
    try:
        hints = typing.get_type_hints(s.fn)
    except Exception:  # unresolvable annotations are checked on the value at run time
        return []
    if "return" not in hints:
        return []
    ret = hints["return"]
    types = [ret]
    if len(s.outputs) > 1:
        args = typing.get_args(ret) if typing.get_origin(ret) is tuple else ()
        if args and len(args) == len(s.outputs):
            types = list(args)
        elif args:
            return [f"Step {name!r} declares outputs {list(s.outputs)} but its return "
                    f"annotation has {len(args)} values; make them match."]
    out = []
    for o, tp in zip(s.outputs, types, strict=False):
        if not type_storable(tp):
            out.append(
                f"Step {name!r} output {o!r} is annotated {getattr(tp, '__name__', tp)!s}, "
                "which loopml cannot store between steps. Return a DataFrame, Arrow table, "
                "numpy array, model or JSON value, or save it yourself and return its path.")
    return out
