"""Compile parsed filters (``_search_parse``) to parameterised SQLAlchemy Core, and evaluate
them in plain Python over entities (the reference the differential test checks SQL against).

Semantics (MLflow's, with OR and parentheses added):
- a comparison on a metric/param/tag the run lacks is false (so ``NOT IN``/``!=`` skip it too);
  only ``IS NULL`` matches a missing key;
- metrics compare numerically on the latest value, with IEEE 754 semantics for NaN: it
  compares false for every operator except ``!=``, which it matches (as MLflow does);
- params, tags and string attributes compare as strings; LIKE is case-sensitive on every
  engine, ILIKE is not.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement

from loopml.entities import Run, ViewType
from loopml.errors import InvalidParameterValue
from loopml.store import _schema as t
from loopml.store._schema import VALUE_NAN
from loopml.store._search_parse import (
    NUMERIC_OPS,
    STRING_OPS,
    And,
    Compare,
    Expr,
    Ident,
    Or,
    parse_filter,
    parse_order_by,
)
from loopml.store._sql_read import INFO_COLS
from loopml.store._sql_util import Prepared

__all__ = [
    "evaluate_run",
    "experiments_select",
    "logged_models_select",
    "parse_filter",
    "runs_select",
]


# ---- case-sensitive LIKE on every engine ---------------------------------------------------
class _CaseSensitiveLike(sa.sql.expression.ColumnElement[bool]):
    """``x LIKE p`` everywhere except SQLite, whose LIKE ignores ASCII case: there it becomes
    ``x GLOB g`` with the pattern translated (per statement, unlike a connection-wide pragma)."""

    inherit_cache = True
    type = sa.Boolean()

    def __init__(self, col: ColumnElement[Any], pattern: str) -> None:
        self.col = col
        self.like_pat = sa.literal(pattern)
        self.glob_pat = sa.literal(_like_to_glob(pattern))


@compiles(_CaseSensitiveLike)
def _cs_like_default(el: _CaseSensitiveLike, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(el.col, **kw)} LIKE {compiler.process(el.like_pat, **kw)})"


@compiles(_CaseSensitiveLike, "sqlite")
def _cs_like_sqlite(el: _CaseSensitiveLike, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(el.col, **kw)} GLOB {compiler.process(el.glob_pat, **kw)})"


def _like_to_glob(pattern: str) -> str:
    special = {"*": "[*]", "?": "[?]", "[": "[[]", "%": "*", "_": "?"}
    return "".join(special.get(c, c) for c in pattern)


def _like_regex(pattern: str, flags: int = 0) -> re.Pattern[str]:
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL | flags)


# ---- entity descriptions -----------------------------------------------------------------
@dataclass(frozen=True)
class _KV:
    table: sa.Table
    owner: str  # column name linking to the entity id
    numeric: bool


@dataclass(frozen=True)
class _Entity:
    name: str
    id_col: ColumnElement[Any]
    attributes: dict[str, tuple[ColumnElement[Any], bool]]  # name -> (column, is_numeric)
    kv: dict[str, _KV]
    # Registry search: ``tags.k != 'v'`` also matches entities without tag k. The mlflow
    # client appends ``tags.`mlflow.prompt.is_prompt` != 'true'`` to every registered-model
    # search and relies on that. Run search keeps MLflow's run semantics (missing: no match).
    ne_matches_missing: bool = False


_R = t.runs.c
_RUNS = _Entity(
    "runs",
    _R.run_uuid,
    {
        "run_id": (_R.run_uuid, False), "run_uuid": (_R.run_uuid, False),
        "run_name": (_R.name, False), "status": (_R.status, False),
        "user_id": (_R.user_id, False), "artifact_uri": (_R.artifact_uri, False),
        "lifecycle_stage": (_R.lifecycle_stage, False),
        "start_time": (_R.start_time, True), "created": (_R.start_time, True),
        "end_time": (_R.end_time, True),
    },
    {
        "metrics": _KV(t.latest_metrics, "run_uuid", True),
        "params": _KV(t.params, "run_uuid", False),
        "tags": _KV(t.tags, "run_uuid", False),
    },
)
_X = t.experiments.c
_EXPERIMENTS = _Entity(
    "experiments",
    _X.experiment_id,
    {
        "name": (_X.name, False), "experiment_id": (_X.experiment_id, True),
        "creation_time": (_X.creation_time, True),
        "last_update_time": (_X.last_update_time, True),
    },
    {"tags": _KV(t.experiment_tags, "experiment_id", False)},
)
_M = t.logged_models.c
_MODELS = _Entity(
    "logged_models",
    _M.model_id,
    {
        "name": (_M.name, False), "model_id": (_M.model_id, False), "status": (_M.status, False),
        "source_run_id": (_M.source_run_id, False), "model_type": (_M.model_type, False),
        "creation_timestamp": (_M.creation_timestamp, True),
        "creation_time": (_M.creation_timestamp, True),
        "last_updated_timestamp": (_M.last_updated_timestamp, True),
    },
    {
        "tags": _KV(t.logged_model_tags, "model_id", False),
        "params": _KV(t.logged_model_params, "model_id", False),
    },
)


def _bad(msg: str) -> InvalidParameterValue:
    return InvalidParameterValue(msg)


def _check_op(c: Compare, numeric: bool, what: str) -> None:
    if c.op in ("IS NULL", "IS NOT NULL", "IN", "NOT IN"):
        if c.op in ("IN", "NOT IN") and numeric:
            raise _bad(f"{what} is numeric; IN is only for strings. Use = with OR instead.")
        return
    if numeric:
        if c.op not in NUMERIC_OPS or not isinstance(c.value, float):
            raise _bad(
                f"{what} is numeric: compare it with =, !=, <, <=, > or >= and a number, "
                f"e.g. {c.ident.kind}.{c.ident.key} > 0.5."
            )
    elif c.op not in STRING_OPS or not isinstance(c.value, str):
        raise _bad(
            f"{what} is a string: compare it with =, !=, LIKE, ILIKE or IN and a quoted "
            f"string, e.g. {c.ident.kind}.{c.ident.key} = 'value'."
        )


def _cmp(col: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    if op == "=":
        return col == value
    if op == "!=":
        return col != value
    if op == "<":
        return col < value
    if op == "<=":
        return col <= value
    if op == ">":
        return col > value
    if op == ">=":
        return col >= value
    if op == "LIKE":
        return _CaseSensitiveLike(col, value)
    if op == "ILIKE":
        return col.ilike(value)
    if op == "IN":
        return col.in_(list(value))
    if op == "NOT IN":
        return col.not_in(list(value))
    raise _bad(f"unsupported comparator {op}")


def _compile(expr: Expr, ent: _Entity) -> ColumnElement[bool]:
    if isinstance(expr, And):
        return sa.and_(*(_compile(e, ent) for e in expr.items))
    if isinstance(expr, Or):
        return sa.or_(*(_compile(e, ent) for e in expr.items))
    c = expr
    kind, key = c.ident.kind, c.ident.key
    if kind == "attributes":
        if key not in ent.attributes:
            raise _bad(
                f"Unknown attribute {key!r} for {ent.name}. Known: {sorted(ent.attributes)}."
            )
        col, numeric = ent.attributes[key]
        _check_op(c, numeric, f"attribute {key!r}")
        if c.op == "IS NULL":
            return col.is_(None)
        if c.op == "IS NOT NULL":
            return col.is_not(None)
        value = int(c.value) if numeric and isinstance(c.value, float) and col.type.python_type is int else c.value  # type: ignore[attr-defined]
        return sa.and_(col.is_not(None), _cmp(col, c.op, value))
    if kind == "datasets" and ent is _RUNS:
        return _dataset_condition(c)
    if kind not in ent.kv:
        raise _bad(f"Unknown prefix {kind!r} for {ent.name}. Use one of {sorted(ent.kv)} or attributes.")
    kv = ent.kv[kind]
    _check_op(c, kv.numeric, f"{kind[:-1]} {key!r}")
    tc = kv.table.c
    base = sa.select(sa.literal(1)).where(tc[kv.owner] == ent.id_col, tc.key == key)
    if c.op == "IS NULL":
        return ~sa.exists(base)
    if c.op == "IS NOT NULL":
        return sa.exists(base)
    if c.op == "!=" and ent.ne_matches_missing:
        return ~sa.exists(base.where(tc.value == c.value))
    cond = _cmp(tc.value, c.op, c.value)
    if kv.numeric:
        # NaN is stored as NULL + value_kind (see _schema): SQL's NULL would compare false
        # for every operator, IEEE's NaN is unequal to everything, so != matches it.
        cond = sa.and_(tc.value_kind != VALUE_NAN, tc.value.is_not(None), cond)
        if c.op == "!=":
            cond = sa.or_(tc.value_kind == VALUE_NAN, cond)
    return sa.exists(base.where(cond))


def _dataset_condition(c: Compare) -> ColumnElement[bool]:
    di, ds = t.run_dataset_inputs.c, t.datasets.c
    base = (
        sa.select(sa.literal(1))
        .select_from(t.run_dataset_inputs.join(t.datasets, di.dataset_uuid == ds.dataset_uuid))
        .where(di.run_uuid == _R.run_uuid)
    )
    if c.ident.key in ("name", "digest"):
        _check_op(c, False, f"datasets.{c.ident.key}")
        if c.op in ("IS NULL", "IS NOT NULL"):
            raise _bad("datasets.* does not support IS NULL; use datasets.name LIKE '%' instead")
        return sa.exists(base.where(_cmp(ds[c.ident.key], c.op, c.value)))
    if c.ident.key == "context":
        if c.op not in ("=", "IN") or c.value is None:
            raise _bad("datasets.context supports = and IN, e.g. datasets.context = 'train'.")
        vals = [c.value] if isinstance(c.value, str) else list(c.value)  # type: ignore[arg-type]
        # Input tags are stored as compact JSON; match the exact encoded pair.
        conds = [di.tags.contains(f'"mlflow.data.context":"{v}"') for v in vals]
        return sa.exists(base.where(sa.or_(*conds)))
    raise _bad("datasets filters support datasets.name, datasets.digest and datasets.context.")


def _where(expr_text: str | None, ent: _Entity) -> ColumnElement[bool] | None:
    """Parse and compile a filter; semantic errors quote the whole filter, like parse errors."""
    expr = parse_filter(expr_text)
    if expr is None:
        return None
    try:
        return _compile(expr, ent)
    except InvalidParameterValue as e:
        raise InvalidParameterValue(f"Invalid filter {expr_text!r}: {e.message}") from None


def _view_condition(col: ColumnElement[Any], view_type: ViewType) -> ColumnElement[bool] | None:
    vt = ViewType.parse(view_type)
    if vt == ViewType.ACTIVE_ONLY:
        return col == "active"
    if vt == ViewType.DELETED_ONLY:
        return col == "deleted"
    return None


def _order_terms(
    ent: _Entity, ident: Ident, ascending: bool
) -> list[ColumnElement[Any]]:
    if ident.kind == "attributes":
        if ident.key not in ent.attributes:
            raise _bad(f"Cannot order by unknown attribute {ident.key!r}. Known: {sorted(ent.attributes)}.")
        expr: ColumnElement[Any] = ent.attributes[ident.key][0]
    elif ident.kind in ent.kv:
        kv = ent.kv[ident.kind]
        tc = kv.table.c
        expr = (
            sa.select(tc.value)
            .where(tc[kv.owner] == ent.id_col, tc.key == ident.key)
            .scalar_subquery()
        )
    else:
        raise _bad(f"Cannot order by {ident.kind}.{ident.key}.")
    # Missing values sort last in both directions (MLflow's behaviour).
    return [sa.case((expr.is_(None), 1), else_=0), expr.asc() if ascending else expr.desc()]


def _paged(q: sa.Select[Any], offset: int, limit: int) -> sa.Select[Any]:
    return q.offset(offset).limit(limit)


def runs_select(
    experiment_ids: Sequence[int],
    filter_string: str | None,
    view_type: ViewType,
    order_by: Sequence[str] | None,
    offset: int,
    limit: int,
) -> sa.Select[Any]:
    """A page of runs as rows of ``INFO_COLS``: the ids in order, and their infos with them."""
    q = sa.select(*INFO_COLS).where(_R.experiment_id.in_(list(experiment_ids)))
    cond = _view_condition(_R.lifecycle_stage, view_type)
    if cond is not None:
        q = q.where(cond)
    cond_f = _where(filter_string, _RUNS)
    if cond_f is not None:
        q = q.where(cond_f)
    terms: list[ColumnElement[Any]] = []
    for ob in order_by or []:
        key = parse_order_by(ob)
        terms += _order_terms(_RUNS, key.ident, key.ascending)
    if not order_by:
        terms += [_R.start_time.desc()]
    return _paged(q.order_by(*terms, _R.run_uuid.asc()), offset, limit)


# Dashboards, controllers and scripts repeat the same searches, page after page: parsing
# the filter and building and compiling the statement cost more than running it on a
# 100-run page. A Prepared statement is immutable once compiled, so one serves every
# thread; a filter that fails to parse raises and is not cached.
@functools.lru_cache(maxsize=512)
def prepared_runs_select(
    experiment_ids: tuple[int, ...],
    filter_string: str | None,
    view_type: ViewType,
    order_by: tuple[str, ...],
    offset: int,
    limit: int,
) -> Prepared:
    return Prepared(runs_select(experiment_ids, filter_string, view_type, order_by, offset, limit))


def experiments_select(
    view_type: ViewType,
    filter_string: str | None,
    order_by: Sequence[str] | None,
    offset: int,
    limit: int,
) -> sa.Select[Any]:
    q = sa.select(_X.experiment_id)
    cond = _view_condition(_X.lifecycle_stage, view_type)
    if cond is not None:
        q = q.where(cond)
    cond_f = _where(filter_string, _EXPERIMENTS)
    if cond_f is not None:
        q = q.where(cond_f)
    terms: list[ColumnElement[Any]] = []
    for ob in order_by or []:
        key = parse_order_by(ob)
        terms += _order_terms(_EXPERIMENTS, key.ident, key.ascending)
    if not order_by:
        terms += [_X.creation_time.desc()]
    return _paged(q.order_by(*terms, _X.experiment_id.asc()), offset, limit)


def logged_models_select(
    experiment_ids: Sequence[int],
    filter_string: str | None,
    order_by: list[dict[str, Any]] | None,
    offset: int,
    limit: int,
) -> sa.Select[Any]:
    q = sa.select(_M.model_id).where(_M.lifecycle_stage == "active")
    if experiment_ids:
        q = q.where(_M.experiment_id.in_(list(experiment_ids)))
    cond_f = _where(filter_string, _MODELS)
    if cond_f is not None:
        q = q.where(cond_f)
    terms: list[ColumnElement[Any]] = []
    for ob in order_by or []:
        field = str(ob.get("field_name", ""))
        kind, _, key = field.partition(".") if "." in field else ("attributes", "", field)
        terms += _order_terms(_MODELS, Ident(kind, key), bool(ob.get("ascending", True)))
    if not order_by:
        terms += [_M.creation_timestamp.desc()]
    return _paged(q.order_by(*terms, _M.model_id.asc()), offset, limit)


# ---- reference evaluator -----------------------------------------------------------------
_NUM: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def _eval_str(value: str, op: str, target: Any) -> bool:
    if op == "LIKE":
        return _like_regex(target).fullmatch(value) is not None
    if op == "ILIKE":
        return _like_regex(target, re.IGNORECASE).fullmatch(value) is not None
    if op == "IN":
        return value in target
    if op == "NOT IN":
        return value not in target
    return _NUM[op](value, target)  # type: ignore[arg-type]


def evaluate_run(expr: Expr | None, run: Run) -> bool:
    """Plain-Python meaning of a filter for one run; the SQL must agree with it."""
    if expr is None:
        return True
    if isinstance(expr, And):
        return all(evaluate_run(e, run) for e in expr.items)
    if isinstance(expr, Or):
        return any(evaluate_run(e, run) for e in expr.items)
    c = expr
    kind, key = c.ident.kind, c.ident.key
    if kind == "attributes":
        _, numeric = _RUNS.attributes[key]
        info = run.info
        attr = {"run_uuid": "run_id", "created": "start_time"}.get(key, key)
        v = getattr(info, attr)
        if c.op == "IS NULL":
            return v is None
        if c.op == "IS NOT NULL":
            return v is not None
        if v is None:
            return False
        return _NUM[c.op](float(v), float(c.value)) if numeric else _eval_str(v, c.op, c.value)  # type: ignore[arg-type]
    if kind == "datasets":
        for d in run.inputs.dataset_inputs:
            if key == "context":
                ctx = {x.key: x.value for x in d.tags}.get("mlflow.data.context")
                vals = [c.value] if isinstance(c.value, str) else list(c.value or ())  # type: ignore[arg-type]
                if ctx is not None and ctx in vals:
                    return True
            elif _eval_str(getattr(d.dataset, key), c.op, c.value):
                return True
        return False
    if kind == "metrics":
        m = run.data.metrics.get(key)
        if c.op in ("IS NULL", "IS NOT NULL"):
            return (m is None) == (c.op == "IS NULL")
        if m is None:
            return False
        if math.isnan(m.value):
            return c.op == "!="  # IEEE 754: NaN is unequal to everything, incl. itself
        return _NUM[c.op](m.value, float(c.value))  # type: ignore[arg-type]
    source = run.data.params if kind == "params" else run.data.tags
    sv = source.get(key)
    if c.op in ("IS NULL", "IS NOT NULL"):
        return (sv is None) == (c.op == "IS NULL")
    if sv is None:
        return False
    return _eval_str(sv, c.op, c.value)
