"""``@step`` and ``@pipeline``: typed functions composed into a DAG by their data dependencies.

A pipeline function is traced once with placeholders: calling a step inside it records a
node and returns references to the node's outputs instead of running anything. Outside a
pipeline a step is a plain function call, so steps stay unit-testable.

    @step
    def load(n: int) -> pd.DataFrame: ...

    @step(retries=2, timeout=600, resources={"cpus": 2})
    def train(df: pd.DataFrame, lr: float) -> dict: ...

    @pipeline
    def training(n: int = 1000, lr: float = 0.1):
        return train(load(n), lr=lr)
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from loopml.errors import InvalidParameterValue


@dataclass(frozen=True)
class Resources:
    """What a step needs from its executor (Ray maps these to num_cpus, memory, num_gpus
    and custom resources; the local executors ignore them)."""

    cpus: float = 1.0
    memory: int | None = None  # bytes
    gpus: float = 0.0
    custom: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, value: Resources | Mapping[str, Any] | None) -> Resources:
        if value is None:
            return cls()
        if isinstance(value, Resources):
            return value
        known = {"cpus", "memory", "gpus"}
        custom = {k: float(v) for k, v in value.items() if k not in known}
        return cls(float(value.get("cpus", 1.0)), value.get("memory"),
                   float(value.get("gpus", 0.0)), custom)


@dataclass(frozen=True)
class OutputRef:
    """A step output inside a pipeline being traced."""

    node: str
    output: str


@dataclass(frozen=True)
class ParamRef:
    """A pipeline parameter inside a pipeline being traced."""

    name: str


@dataclass
class Node:
    name: str
    step: Step
    inputs: dict[str, Any]  # argument -> OutputRef | ParamRef | literal
    problems: list[str] = field(default_factory=list)

    def upstream(self) -> set[str]:
        return {v.node for v in self.inputs.values() if isinstance(v, OutputRef)}


class Step:
    """A function plus how to run it. Call it inside a ``@pipeline`` to add a node."""

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None,
                 outputs: Sequence[str] | None = None, retries: int = 0,
                 retry_backoff: float = 1.0, timeout: float | None = None, cache: bool = True,
                 resources: Resources | Mapping[str, Any] | None = None,
                 version: str | None = None, distributed: Any = None) -> None:
        if retries < 0 or retry_backoff < 0 or (timeout is not None and timeout <= 0):
            raise InvalidParameterValue(
                f"@step {fn.__name__}: retries and retry_backoff must be >= 0 and timeout > 0.")
        self.fn = fn
        self.name = name or fn.__name__
        self.outputs = tuple(outputs) if outputs else ("output",)
        self.retries = retries
        self.retry_backoff = retry_backoff
        self.timeout = timeout
        self.cache = cache
        # A distributed step's own task only waits on Ray Train; its workers hold the CPUs.
        self.resources = Resources.of(resources if resources is not None or distributed is None
                                      else {"cpus": 0})
        self.version = version
        # A distributed-training spec (pipelines/distributed.py: TorchDDP): the function
        # then runs on that many Ray Train workers at once.
        self.distributed = distributed
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    @functools.cached_property
    def code_digest(self) -> str:
        """What the cache keys on for the code: the explicit version, else the source."""
        if self.version is not None:
            return hashlib.sha256(f"version:{self.version}".encode()).hexdigest()
        try:
            src = inspect.getsource(self.fn)
        except (OSError, TypeError):
            src = self.fn.__code__.co_code.hex()  # no source (e.g. a REPL): use bytecode
        return hashlib.sha256(src.encode()).hexdigest()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        builder = _BUILDER.get()
        if builder is None:
            return self.fn(*args, **kwargs)
        return builder.add(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<step {self.name}>"


@overload
def step(fn: Callable[..., Any]) -> Step: ...
@overload
def step(fn: None = None, **options: Any) -> Callable[[Callable[..., Any]], Step]: ...
def step(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Make a pipeline step. Options: ``name``, ``outputs`` (names, when the function
    returns a tuple), ``retries``, ``retry_backoff`` (seconds, doubled per attempt),
    ``timeout`` (seconds), ``cache`` (default True), ``resources`` ({cpus, memory, gpus,
    <custom>}), ``version`` (bump to invalidate the cache without changing the code), ``distributed``
    (``TorchDDP(workers=2)``: one training function on several Ray Train workers; see
    ``loopml.pipelines.distributed``)."""
    if fn is not None:
        return Step(fn, **options)
    return lambda f: Step(f, **options)


class _Builder:
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}

    def add(self, s: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        name, i = s.name, 2
        while name in self.nodes:
            name, i = f"{s.name}_{i}", i + 1
        node = Node(name, s, {})
        try:
            bound = s.signature.bind_partial(*args, **kwargs)
        except TypeError as e:
            node.problems.append(f"Step {name!r}: {e}. Check the arguments passed to {s.name}().")
            bound = None
        if bound is not None:
            node.inputs = dict(bound.arguments)
        self.nodes[name] = node
        refs = tuple(OutputRef(name, o) for o in s.outputs)
        return refs[0] if len(refs) == 1 else refs


_BUILDER: contextvars.ContextVar[_Builder | None] = contextvars.ContextVar(
    "loopml_pipeline_builder", default=None)


class Pipeline:
    """A named DAG of step nodes with parameters (name -> default, or ``REQUIRED``)."""

    def __init__(self, name: str, nodes: dict[str, Node], params: dict[str, Any],
                 annotations: dict[str, Any] | None = None, ref: str | None = None,
                 result: Any = None) -> None:
        self.name = name
        self.nodes = nodes
        self.params = params
        self.annotations = annotations or {}
        self.ref = ref  # "module:attr", when it can be imported again (resume, triggers)
        self.result = result  # what the pipeline function returned (refs)

    def topological(self) -> list[str]:
        """Node names in an order where each comes after its inputs (lint rules out cycles)."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(n: str) -> None:
            if n in seen or n not in self.nodes:
                return
            seen.add(n)
            for u in sorted(self.nodes[n].upstream()):
                visit(u)
            order.append(n)

        for n in self.nodes:
            visit(n)
        return order

    def downstream(self, name: str) -> set[str]:
        """Every node that depends on ``name``, directly or not."""
        out: set[str] = set()
        frontier = {name}
        while frontier:
            nxt = {n for n, node in self.nodes.items() if node.upstream() & frontier} - out
            out |= nxt
            frontier = nxt
        return out

    def lint(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        from loopml.pipelines._lint import lint

        return lint(self, params or {})

    def run(self, params: Mapping[str, Any] | None = None, **options: Any) -> Any:
        """Run now and wait; see ``loopml.pipelines.run`` for the options."""
        from loopml.pipelines._engine import run

        return run(self, params, **options)

    def __repr__(self) -> str:
        return f"<pipeline {self.name}: {len(self.nodes)} steps>"


REQUIRED = inspect.Parameter.empty


def _trace(fn: Callable[..., Any], name: str) -> Pipeline:
    sig = inspect.signature(fn)
    params = {p.name: p.default for p in sig.parameters.values()}
    builder = _Builder()
    token = _BUILDER.set(builder)
    try:
        result = fn(**{p: ParamRef(p) for p in params})
    finally:
        _BUILDER.reset(token)
    try:
        ann = inspect.get_annotations(fn, eval_str=True)
    except Exception:  # an annotation that cannot be evaluated just isn't used for coercion
        ann = {}
    module = getattr(fn, "__module__", None)
    ref = f"{module}:{fn.__qualname__}" if module and "<locals>" not in fn.__qualname__ else None
    return Pipeline(name, builder.nodes, params, ann, ref, result)


def pipeline(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Make a pipeline from a function whose parameters are the pipeline's parameters and
    whose body calls steps. The function runs once, at decoration, to build the DAG."""
    if fn is None:
        return lambda f: _trace(f, name or f.__name__)
    return _trace(fn, name or fn.__name__)


def from_spec(spec: Mapping[str, Any], steps: Mapping[str, Step] | None = None) -> Pipeline:
    """A pipeline from a declarative mapping (YAML or JSON), the form a no-code editor writes:

        name: training
        params: {n: 1000, lr: 0.1}
        steps:
          load:  {step: mymod:load, inputs: {n: "${params.n}"}}
          train: {step: mymod:train, inputs: {df: "${load}", lr: "${params.lr}"}}

    ``${node}`` or ``${node.output}`` refers to a step's output and ``${params.x}`` to a
    parameter; anything else is a literal. Steps are looked up in ``steps`` by name, else
    imported from ``module:attr``. Cycles and dangling references are reported by lint."""
    from loopml.pipelines._refs import import_ref

    name = str(spec.get("name") or "pipeline")
    nodes: dict[str, Node] = {}
    for node_name, raw in dict(spec.get("steps") or {}).items():
        target = str(raw.get("step", node_name))
        s = (steps or {}).get(target)
        if s is None:
            obj = import_ref(target, "step")
            s = obj if isinstance(obj, Step) else Step(obj)
        inputs = {k: _parse_ref(v) for k, v in dict(raw.get("inputs") or {}).items()}
        nodes[str(node_name)] = Node(str(node_name), s, inputs)
    return Pipeline(name, nodes, dict(spec.get("params") or {}))


def _parse_ref(v: Any) -> Any:
    if isinstance(v, str) and v.startswith("${") and v.endswith("}"):
        inner = v[2:-1].strip()
        if inner.startswith("params."):
            return ParamRef(inner[len("params."):])
        node, _, out = inner.partition(".")
        return OutputRef(node, out or "output")
    return v
