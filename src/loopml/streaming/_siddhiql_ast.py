"""The syntax tree of a SiddhiQL app in loopml's subset (built by ``_siddhiql_parser``).

Every node carries the 1-based ``line``/``column`` of its first token, so that the compiler can
name the place of a construct it cannot translate. Durations are integer milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Node:
    line: int
    column: int


# --- expressions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Const(Node):
    """A literal; ``type``: string, int, long, float, double, bool, null or time (ms)."""

    value: object
    type: str


@dataclass(frozen=True)
class Attr(Node):
    """``name``, ``S.name``, ``e1.name`` or ``e2[last].name`` (``index``: an int or 'last')."""

    name: str
    stream: str | None = None
    index: int | str | None = None


@dataclass(frozen=True)
class Call(Node):
    """``name(args)`` or ``namespace:name(args)``; ``star``: ``count(*)``-style call."""

    name: str
    args: tuple[Expr, ...]
    namespace: str | None = None


@dataclass(frozen=True)
class BinOp(Node):
    """``op``: or, and, ==, !=, <, <=, >, >=, +, -, *, /, %."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Unary(Node):
    """``op``: not or - (negation)."""

    op: str
    operand: Expr


@dataclass(frozen=True)
class IsNull(Node):
    operand: Expr


@dataclass(frozen=True)
class InTable(Node):
    """``expr in Table`` (parsed so that it can be refused by name)."""

    operand: Expr
    table: str


Expr = Const | Attr | Call | BinOp | Unary | IsNull | InTable


# --- definitions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Annotation(Node):
    """``@name(key='value', ...)`` or ``@ns:name(...)``; positional values have key ''."""

    name: str
    elements: tuple[tuple[str, str], ...] = ()

    def get(self, key: str, default: str | None = None) -> str | None:
        for k, v in self.elements:
            if k.lower() == key.lower():
                return v
        return default


@dataclass(frozen=True)
class StreamDef(Node):
    name: str
    attributes: tuple[tuple[str, str], ...]  # (name, SiddhiQL type, lower-case)
    annotations: tuple[Annotation, ...] = ()


# --- queries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowSpec(Node):
    """``#window.name(args)``."""

    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class StreamInput(Node):
    """``S[pre]#window.w(...)[post]``."""

    stream: str
    filters: tuple[Expr, ...] = ()
    window: WindowSpec | None = None
    post_filters: tuple[Expr, ...] = ()


@dataclass(frozen=True)
class PatternElement(Node):
    """``alias=S[filter]<min:max>``, or ``not S[filter] for T`` (``negated``)."""

    stream: str
    alias: str | None = None
    filters: tuple[Expr, ...] = ()
    count: tuple[int, int | None] | None = None
    negated: bool = False
    for_ms: int | None = None
    every: bool = False


@dataclass(frozen=True)
class PatternInput(Node):
    """``every e1=A -> e2=B within T`` (``sequence``: the comma form, strict contiguity)."""

    elements: tuple[PatternElement, ...]
    within_ms: int | None = None
    sequence: bool = False


@dataclass(frozen=True)
class OutputRate(Node):
    """``output [first|last|all] every N events|T`` or ``output snapshot every T``."""

    kind: str
    every_ms: int | None = None
    every_events: int | None = None


@dataclass(frozen=True)
class SelectItem(Node):
    expr: Expr
    alias: str | None


@dataclass(frozen=True)
class Query(Node):
    """One query; ``select`` None means ``select *`` (or no select clause)."""

    input: StreamInput | PatternInput
    target: str
    select: tuple[SelectItem, ...] | None = None
    group_by: tuple[Attr, ...] = ()
    having: Expr | None = None
    output: OutputRate | None = None
    event_type: str = "current"
    name: str | None = None
    partition_key: str | None = None  # set for the queries of a partition


@dataclass(frozen=True)
class Partition(Node):
    """``partition with (key of S, ...) begin ... end``: ``keys`` maps stream -> attribute."""

    keys: tuple[tuple[str, str], ...]
    queries: tuple[Query, ...]


@dataclass
class App:
    """A parsed app: stream definitions, then queries (a partition's queries carry its key)."""

    name: str | None = None
    annotations: list[Annotation] = field(default_factory=list)
    streams: dict[str, StreamDef] = field(default_factory=dict)
    queries: list[Query] = field(default_factory=list)
    partitions: list[Partition] = field(default_factory=list)
