"""Typed rule expressions: parsed with :mod:`ast` against a whitelist, compiled to numpy.

Grammar (a subset of Python expression syntax; nothing is ever evaluated with ``eval``):

- names of columns (``temp``), step aliases in sequences (``e1.temp``), constants (numbers,
  strings, ``True``/``False``/``None``);
- ``+ - * / // % **``, unary ``-``/``not``, ``and``/``or``, comparisons (chained too),
  ``in``/``not in`` a tuple or list of constants, ``x is None``/``x is not None``;
- functions: ``abs sqrt log log10 exp floor ceil round least greatest isnull notnull where``
  and UDFs registered with :func:`loopml.streaming.register_udf`;
- in window ``select``/``having`` only, aggregates: ``count() sum avg min max std first last
  distinctCount``.

Types are ``num``, ``str`` and ``bool``; comparing a string with a number, arithmetic on a
string or ``and`` on a number is an :class:`ExprError` naming the construct.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loopml.streaming.udf import UDF, udfs

Columns = Mapping[str, np.ndarray]
Fn = Callable[[Columns], Any]

AGGREGATES = ("count", "sum", "avg", "min", "max", "std", "first", "last", "distinctCount")
_NUM_FUNCS: dict[str, Callable[..., Any]] = {
    "abs": np.abs, "sqrt": np.sqrt, "log": np.log, "log10": np.log10, "exp": np.exp,
    "floor": np.floor, "ceil": np.ceil, "round": np.round,
    "least": np.minimum, "greatest": np.maximum,
}
_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
KIND = {"str": "str", "string": "str", "bool": "bool"}  # every other field type is a number
_WORD = {"num": "a number", "str": "a string", "bool": "a true/false value", "any": "None"}


def kind_of(field_type: str) -> str:
    """``num``, ``str`` or ``bool`` for a schema type (timestamps are numbers: ms)."""
    return KIND.get(field_type, "num")


class ExprError(ValueError):
    """An expression outside the grammar or with a type error; the message names it."""


@dataclass
class Agg:
    """One aggregate call in a window select: ``func`` over the row expression ``arg``
    (None for ``count()``), its result held in column ``slot``."""

    func: str
    arg: Fn | None
    slot: str
    text: str


@dataclass
class Compiled:
    """``fn(columns) -> array or scalar``; ``kind``: num|str|bool; ``names``: the columns
    read; ``aggs``: aggregates to compute first (window selects only)."""

    text: str
    fn: Fn
    kind: str
    names: set[str] = field(default_factory=set)
    aggs: list[Agg] = field(default_factory=list)
    #: the same expression over one row (``{name: Python value}`` -> value), compiled from the
    #: same AST; ``saggs`` are its aggregates (same slots and order as ``aggs``)
    sfn: Fn | None = None
    saggs: list[Agg] = field(default_factory=list)

    def __call__(self, cols: Columns, n: int) -> np.ndarray:
        out = self.fn(cols)
        if np.ndim(out) == 0:
            return np.full(n, out, dtype=object if isinstance(out, str) or out is None else None)
        return np.asarray(out)


def column_name(alias: str, attr: str) -> str:
    """The column that ``alias.attr`` reads (``e1.temp`` -> ``e1_temp``)."""
    return f"{alias}_{attr}"


class _Compiler:
    def __init__(self, text: str, fields: Mapping[str, str], aggregates: bool,
                 extra_udfs: Mapping[str, UDF] | None, prefix: str = "",
                 outside: Collection[str] | None = None, scalar: bool = False) -> None:
        self.text, self.fields, self.allow_aggs, self.prefix = text, fields, aggregates, prefix
        # scalar: closures over one row of Python values (the per-event path); the few
        # constructs whose numpy form differs on scalars get a scalar form with numpy's result
        self.scalar = scalar
        self.outside = outside
        self.udfs = {**udfs(), **(extra_udfs or {})}
        self.names: set[str] = set()
        self.aggs: list[Agg] = []
        self._in_agg = False

    def fail(self, node: ast.AST, why: str) -> ExprError:
        seg = ast.get_source_segment(self.text, node) or ""
        return ExprError(f"in {self.text!r}: {why}" + (f" (at {seg!r})" if seg and seg != self.text else ""))

    def compile(self, node: ast.AST) -> tuple[Fn, str]:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise self.fail(node, f"{type(node).__name__} is not allowed in a rule expression")
        return method(node)  # type: ignore[no-any-return]

    def _Constant(self, node: ast.Constant) -> tuple[Fn, str]:
        v = node.value
        if isinstance(v, bool):
            return (lambda c: v), "bool"
        if isinstance(v, int | float):
            return (lambda c: v), "num"
        if isinstance(v, str):
            return (lambda c: v), "str"
        if v is None:
            return (lambda c: None), "any"
        raise self.fail(node, f"constant {v!r} is not allowed")

    def _name(self, node: ast.AST, name: str) -> tuple[Fn, str]:
        if name in ("True", "False"):
            b = name == "True"
            return (lambda c: b), "bool"
        if name not in self.fields:
            from loopml._config import suggest

            raise self.fail(node, f"unknown field {name!r}{suggest(name, self.fields)}")
        if self.outside is not None and not self._in_agg and name not in self.outside:
            raise self.fail(node, f"{name!r} outside an aggregate: a tumbling/hopping window row holds "
                                  f"only the group columns and aggregates; use last({name})")
        self.names.add(name)
        return (lambda c: c[name]), kind_of(self.fields[name])

    def _Name(self, node: ast.Name) -> tuple[Fn, str]:
        return self._name(node, node.id)

    def _Attribute(self, node: ast.Attribute) -> tuple[Fn, str]:
        if not isinstance(node.value, ast.Name):
            raise self.fail(node, "only alias.field (e.g. e1.temp) is allowed")
        return self._name(node, column_name(node.value.id, node.attr))

    def _BinOp(self, node: ast.BinOp) -> tuple[Fn, str]:
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise self.fail(node, f"operator {type(node.op).__name__} is not allowed")
        (lf, lk), (rf, rk) = self.compile(node.left), self.compile(node.right)
        if "str" in (lk, rk) or "bool" in (lk, rk):
            raise self.fail(node, f"type error: arithmetic on {_WORD[lk if lk != 'num' else rk]}")
        if isinstance(node.op, ast.Pow):
            # float64 power: Python's int ** int on constants could take unbounded time and memory
            return (lambda c: np.power(np.asarray(lf(c), dtype=np.float64), rf(c))), "num"
        if self.scalar:
            return (lambda c: _scalar_op(op, lf(c), rf(c))), "num"
        return (lambda c: op(lf(c), rf(c))), "num"

    def _UnaryOp(self, node: ast.UnaryOp) -> tuple[Fn, str]:
        f, k = self.compile(node.operand)
        if isinstance(node.op, ast.Not):
            if k not in ("bool", "any"):
                raise self.fail(node, f"type error: 'not' on a {k}")
            return (lambda c: np.logical_not(f(c))), "bool"
        if isinstance(node.op, ast.USub | ast.UAdd):
            if k != "num":
                raise self.fail(node, f"type error: sign on a {k}")
            neg = isinstance(node.op, ast.USub)
            return (lambda c: -f(c) if neg else f(c)), "num"
        raise self.fail(node, "operator ~ is not allowed")

    def _BoolOp(self, node: ast.BoolOp) -> tuple[Fn, str]:
        parts = [self.compile(v) for v in node.values]
        for (_, k), v in zip(parts, node.values, strict=True):
            if k not in ("bool", "any"):
                raise self.fail(v, f"type error: {'and' if isinstance(node.op, ast.And) else 'or'} "
                                   f"needs true/false operands, got a {k}")
        fns = [f for f, _ in parts]
        if self.scalar:
            if isinstance(node.op, ast.And):
                return (lambda c: all(bool(f(c)) for f in fns)), "bool"
            return (lambda c: any(bool(f(c)) for f in fns)), "bool"
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or

        def run(c: Columns) -> Any:
            out = fns[0](c)
            for f in fns[1:]:
                out = combine(out, f(c))
            return out

        return run, "bool"

    def _Compare(self, node: ast.Compare) -> tuple[Fn, str]:
        left = self.compile(node.left)
        steps: list[Fn] = []
        for op, comp in zip(node.ops, node.comparators, strict=True):
            steps.append(self._compare_one(node, op, left, comp))
            left = self.compile(comp) if not isinstance(op, ast.In | ast.NotIn) else left
        if self.scalar and len(steps) > 1:
            return (lambda c: all(bool(s(c)) for s in steps)), "bool"

        def run(c: Columns) -> Any:
            out = steps[0](c)
            for s in steps[1:]:
                out = np.logical_and(out, s(c))
            return out

        return (steps[0] if len(steps) == 1 else run), "bool"

    def _compare_one(self, node: ast.AST, op: ast.cmpop, left: tuple[Fn, str],
                     comp: ast.expr) -> Fn:
        lf, lk = left
        if isinstance(op, ast.In | ast.NotIn):
            if not isinstance(comp, ast.Tuple | ast.List) or not all(
                    isinstance(e, ast.Constant) for e in comp.elts):
                raise self.fail(node, "'in' takes a list of constants, e.g. machine in ('m1', 'm2')")
            values = [e.value for e in comp.elts]  # type: ignore[attr-defined]
            for v in values:
                vk = "str" if isinstance(v, str) else "bool" if isinstance(v, bool) else "num"
                if lk != "any" and vk != lk:
                    raise self.fail(node, f"type error: {_WORD[lk]} compared with {v!r}")
            neg = isinstance(op, ast.NotIn)
            arr = np.array(values, dtype=object if lk == "str" else None)
            if self.scalar:
                return lambda c: (lf(c) in values) != neg
            return lambda c: np.isin(lf(c), arr, invert=neg)
        if isinstance(op, ast.Is | ast.IsNot):
            if not (isinstance(comp, ast.Constant) and comp.value is None):
                raise self.fail(node, "'is' is only allowed as 'is None' / 'is not None'")
            neg = isinstance(op, ast.IsNot)
            return lambda c: _isnull(lf(c)) != neg
        rf, rk = self.compile(comp)
        if "any" not in (lk, rk) and lk != rk:
            raise self.fail(node, f"type error: {_WORD[lk]} compared with {_WORD[rk]}")
        fn = _CMPS[type(op)]
        return lambda c: fn(lf(c), rf(c))

    def _Call(self, node: ast.Call) -> tuple[Fn, str]:
        if not isinstance(node.func, ast.Name) or node.keywords:
            raise self.fail(node, "only plain function calls f(x, ...) are allowed")
        name = node.func.id
        if name in AGGREGATES:
            return self._aggregate(node, name)
        args = [self.compile(a) for a in node.args]
        fns = [f for f, _ in args]
        if name in _NUM_FUNCS:
            fn = _NUM_FUNCS[name]
            want = 2 if name in ("least", "greatest") else 1
            if len(args) != want or any(k != "num" for _, k in args):
                raise self.fail(node, f"{name}() takes {want} number argument(s)")
            return (lambda c: fn(*[f(c) for f in fns])), "num"
        if name in ("isnull", "notnull"):
            if len(args) != 1:
                raise self.fail(node, f"{name}() takes one argument")
            neg = name == "notnull"
            return (lambda c: _isnull(fns[0](c)) != neg), "bool"
        if name == "where":
            if len(args) != 3 or args[0][1] != "bool" or args[1][1] != args[2][1]:
                raise self.fail(node, "where(condition, a, b) needs a true/false condition and a, b of one type")
            return (lambda c: np.where(fns[0](c), fns[1](c), fns[2](c))), args[1][1]
        if name in self.udfs:
            udf = self.udfs[name]
            if self.scalar:  # UDFs are vectorised: call with one-row arrays
                return (lambda c: np.asarray(udf.fn(*[_one_row(f(c)) for f in fns]))[0]), udf.kind
            return (lambda c: udf.fn(*[f(c) for f in fns])), udf.kind
        from loopml._config import suggest

        known = [*_NUM_FUNCS, "isnull", "notnull", "where", *self.udfs,
                 *(AGGREGATES if self.allow_aggs else ())]
        raise self.fail(node, f"unknown function {name!r}{suggest(name, known)}; "
                              "register Python functions with loopml.streaming.register_udf")

    def _aggregate(self, node: ast.Call, name: str) -> tuple[Fn, str]:
        if not self.allow_aggs:
            raise self.fail(node, f"aggregate {name}() needs a window (add window: {{sliding: 10s}})")
        if self._in_agg:
            raise self.fail(node, "aggregates cannot be nested")
        arg: Fn | None = None
        kind = "num"
        if name == "count":
            if node.args:
                raise self.fail(node, "count() takes no argument")
        else:
            if len(node.args) != 1:
                raise self.fail(node, f"{name}() takes one argument")
            self._in_agg = True
            arg, k = self.compile(node.args[0])
            self._in_agg = False
            if k != "num" and name not in ("first", "last", "distinctCount"):
                raise self.fail(node, f"type error: {name}() of a {k}")
            kind = k if name in ("first", "last") else "num"
        slot = f"__agg{self.prefix}_{len(self.aggs)}"
        self.aggs.append(Agg(name, arg, slot, ast.get_source_segment(self.text, node) or name))
        return (lambda c: c[slot]), kind


def _scalar_op(op: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
    """``op`` on two scalars with numpy's result where Python raises (x / 0 is inf or nan)."""
    try:
        return op(a, b)
    except (ZeroDivisionError, OverflowError):
        with np.errstate(all="ignore"):
            return op(np.asarray(a)[()], np.asarray(b)[()])


def _one_row(v: Any) -> np.ndarray:
    return np.array([v], dtype=object if isinstance(v, str) or v is None else None)


def _isnull(v: Any) -> Any:
    if v is None:
        return True
    a = np.asarray(v)
    if a.dtype.kind == "f":
        return np.isnan(a)
    if a.dtype.kind == "O":
        return np.array([x is None or (isinstance(x, float) and x != x) for x in a], dtype=bool)
    return np.zeros(a.shape, dtype=bool)


def compile_expr(text: str, fields: Mapping[str, str], *, aggregates: bool = False,
                 extra_udfs: Mapping[str, UDF] | None = None, prefix: str = "",
                 outside: Collection[str] | None = None) -> Compiled:
    """Parse and type-check ``text`` against ``fields`` (name -> schema type); raise
    :class:`ExprError` naming the problem. ``prefix`` keeps the aggregate slots of several
    expressions of one rule apart; ``outside``: the only names allowed outside aggregates."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ExprError(f"in {text!r}: syntax error at column {e.offset}: {e.msg}") from None
    comp = _Compiler(text.strip(), fields, aggregates, extra_udfs, prefix, outside)
    fn, kind = comp.compile(tree.body)
    scomp = _Compiler(text.strip(), fields, aggregates, extra_udfs, prefix, outside, scalar=True)
    sfn, _ = scomp.compile(tree.body)
    return Compiled(text, fn, kind, comp.names, comp.aggs, sfn, scomp.aggs)


__all__ = ["AGGREGATES", "Agg", "Compiled", "ExprError", "column_name", "compile_expr", "kind_of"]
