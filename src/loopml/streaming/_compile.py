"""One rule -> one executable pipeline (lookup, where, window/pattern, select, having,
predict, suppress). Problems are collected (path, message, fix), never raised one by one,
so that lint lists them all."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from loopml.streaming.batch import TIME, Batch, KeyEncoder
from loopml.streaming.expr import AGGREGATES, Agg, Compiled, ExprError, compile_expr
from loopml.streaming.patterns import AbsentOp, SequenceOp, SuppressOp
from loopml.streaming.rules import Rule
from loopml.streaming.udf import UDF
from loopml.streaming.windows import AggInputs, Buckets, CountWindow, SlidingTime

_TYPE_OF_KIND = {"num": "float64", "str": "str", "bool": "bool", "any": "float64"}


@dataclass
class StreamInfo:
    """A stream's columns (name -> schema type, without ``_time``) and key column."""

    fields: dict[str, str]
    key: str | None


@dataclass
class Problem:
    path: tuple[int | str, ...]
    message: str
    fix: str


@dataclass
class Context:
    """What rules may reference by name: UDFs, models (``fn(dict of arrays) -> array or
    dict of arrays``) and lookup tables (``pyarrow.Table`` or dict of arrays)."""

    udfs: Mapping[str, UDF] = field(default_factory=dict)
    models: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    tables: Mapping[str, Any] = field(default_factory=dict)
    resolver: Any = None  # loopml.streaming.predict.ModelResolver: registered models by URI


def _arrow_type_name(t: pa.DataType) -> str:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "str"
    if pa.types.is_boolean(t):
        return "bool"
    return "float64"


class RuleExec:
    """The compiled rule ``rule`` (index ``idx`` in the file) reading ``streams``."""

    def __init__(self, rule: Rule, idx: int, streams: Mapping[str, StreamInfo], ctx: Context,
                 problems: list[Problem]) -> None:
        self.rule, self.idx, self.ctx = rule, idx, ctx
        self._problems = problems
        self.name, self.output = rule.name, rule.output
        self.inputs = [rule.from_]
        if rule.sequence is not None:
            self.inputs = list(dict.fromkeys(s.from_ or rule.from_ for s in rule.sequence.steps))
        self.ok = True
        info = streams.get(rule.from_)
        if info is None:
            self._fail(("from",), f"unknown stream {rule.from_!r}", f"use one of the sources or rule outputs: {sorted(streams)}")
            self.out_info = StreamInfo({}, None)
            return
        self.key = rule.partition_by or info.key
        if rule.partition_by and rule.partition_by not in info.fields:
            self._fail(("partition_by",), f"unknown field {rule.partition_by!r}", f"use one of {sorted(info.fields)}")
        fields = dict(info.fields)
        self.lookup = self._lookup(fields) if rule.lookup else None
        self.where = self._expr(rule.where, fields, ("where",), want="bool") if rule.where is not None else None
        self.encoder = KeyEncoder()
        self.op: Any = None
        self.kind = "row"
        self.select: dict[str, Compiled] = {}
        self.having: Compiled | None = None
        fields = self._pattern(fields, streams)
        if rule.window is None:
            fields = self._row_select(fields)
        self.predict_fn = self._predict(fields) if rule.predict else None
        self.suppress = SuppressOp(rule.suppress.per_key) if rule.suppress else None
        if rule.suppress and self.out_key(fields) is None:
            self._fail(("suppress",), "suppress is per key but the rule's rows have no key column",
                       "set partition_by on the rule or a key on the source")
        if rule.having is not None and rule.window is None:
            self.having = self._expr(rule.having, fields, ("having",), want="bool")
        self.out_info = StreamInfo(fields, self.out_key(fields))

    # ---- compile helpers --------------------------------------------------------------------
    def _fail(self, path: tuple[int | str, ...], msg: str, fix: str) -> None:
        self.ok = False
        self._problems.append(Problem(("rules", self.idx, *path), f"rule {self.name!r}: {msg}", fix))

    def _expr(self, text: str, fields: Mapping[str, str], path: tuple[int | str, ...], want: str | None = None,
              aggregates: bool = False, prefix: str = "", outside: Any = None) -> Compiled | None:
        try:
            c = compile_expr(text, fields, aggregates=aggregates, extra_udfs=self.ctx.udfs, prefix=prefix,
                             outside=outside)
        except ExprError as e:
            self._fail(path, str(e), "fix the expression; fields: " + ", ".join(sorted(fields)))
            return None
        if want and c.kind not in (want, "any"):
            self._fail(path, f"{text!r} is a {c.kind}, expected a {want} condition", "compare it, e.g. x > 0")
            return None
        return c

    def out_key(self, fields: Mapping[str, str]) -> str | None:
        if self.kind == "sequence":
            k = f"{self._aliases[0]}_{self.key}" if self.key else None
            return k if k in fields else None
        return self.key if self.key in fields else None

    def _lookup(self, fields: dict[str, str]) -> tuple[str, dict[Any, int], dict[str, np.ndarray]] | None:
        spec = self.rule.lookup
        assert spec is not None
        table = self.ctx.tables.get(spec.table)
        if table is None:
            self._fail(("lookup", "table"), f"no table registered as {spec.table!r}",
                       "pass tables={'name': pyarrow_table} to compile_rules")
            return None
        t = table if isinstance(table, pa.Table) else pa.table(table)
        if spec.key not in t.column_names or spec.key not in fields:
            self._fail(("lookup", "key"), f"lookup key {spec.key!r} must be a column of the stream and of the table",
                       f"table columns: {t.column_names}")
            return None
        names = spec.fields or [c for c in t.column_names if c != spec.key]
        cols: dict[str, np.ndarray] = {}
        for n in names:
            if n not in t.column_names:
                self._fail(("lookup", "fields"), f"table {spec.table!r} has no column {n!r}", f"use {t.column_names}")
                return None
            fields[n] = _arrow_type_name(t.schema.field(n).type)
            arr = t.column(n).to_numpy(zero_copy_only=False)
            cols[n] = np.asarray(arr, dtype=object if fields[n] == "str" else np.float64)
        index = {v: i for i, v in enumerate(t.column(spec.key).to_pylist())}
        return spec.key, index, cols

    def _pattern(self, fields: dict[str, str], streams: Mapping[str, StreamInfo]) -> dict[str, str]:
        r = self.rule
        if r.window is not None:
            return self._window(fields)
        if r.count is not None:
            self.kind = "count"
            count = Agg("count", None, "__n", "count()")
            self.op = SlidingTime(r.count.within, AggInputs([count]), inclusive=True)
            return {**fields, "n": "int64"}
        if r.sequence is not None:
            return self._sequence(streams)
        if r.absent is not None:
            self.kind = "absent"
            self.after = self._expr(r.absent.after, fields, ("absent", "after"), "bool") if r.absent.after else None
            self.cancel = self._expr(r.absent.cancel, fields, ("absent", "cancel"), "bool") if r.absent.cancel else None
            self._absent_cols = list(fields)
            self.op = AbsentOp(r.absent.for_, self._absent_cols)
            return fields
        return fields

    def _window(self, fields: dict[str, str]) -> dict[str, str]:
        r, w = self.rule, self.rule.window
        assert w is not None
        groups = r.group_by or ([self.key] if self.key else [])
        for g in groups:
            if g not in fields:
                self._fail(("group_by",), f"unknown field {g!r}", f"use one of {sorted(fields)}")
                return {}
        self.groups = groups
        per_event = w.sliding is not None and w.every is None or w.count is not None
        if not r.select:
            self._fail(("select",), "a window needs a select with aggregates",
                       "add e.g. select: {n: count(), temp_avg: avg(temp)}")
            return {}
        outside = None if per_event else set(groups)
        sel = r.select if isinstance(r.select, dict) else {n: n for n in r.select}
        aggs: list[Agg] = []
        out: dict[str, str] = {g: fields[g] for g in groups if g not in sel}
        for i, (name, text) in enumerate(sel.items()):
            c = self._expr(text, fields, ("select", name), aggregates=True, prefix=str(i), outside=outside)
            if c is not None:
                self.select[name] = c
                aggs.extend(c.aggs)
                out[name] = "int64" if text.strip() == "count()" else _TYPE_OF_KIND[c.kind]
        if r.having:
            c = self._expr(r.having, {**fields, **out}, ("having",), "bool", aggregates=True, prefix="h",
                           outside=None if outside is None else outside | set(out))
            if c is not None:
                self.having = c
                aggs.extend(c.aggs)
        inputs = AggInputs(aggs)
        self.kind = "window"
        if w.count is not None:
            self.op = CountWindow(w.count, inputs, w.every_value)
        elif w.sliding is not None and w.every is None:
            self.op = SlidingTime(w.sliding, inputs)
        else:
            width = w.sliding if w.sliding is not None else w.tumbling
            assert width is not None
            self.op = Buckets(width, inputs, w.every_value)
            self.kind = "buckets"
        return out

    def _sequence(self, streams: Mapping[str, StreamInfo]) -> dict[str, str]:
        spec = self.rule.sequence
        assert spec is not None
        self.kind = "sequence"
        aliases = [s.as_ or f"e{i + 1}" for i, s in enumerate(spec.steps)]
        self._aliases = aliases
        out: dict[str, str] = {}
        cols, names, self.step_where = [], [], []
        pair_checks: dict[int, Callable[..., Any]] = {}
        for j, step in enumerate(spec.steps):
            name = step.from_ or self.rule.from_
            info = streams.get(name)
            if info is None:
                self._fail(("sequence", "steps", j, "from"), f"unknown stream {name!r}", f"use one of {sorted(streams)}")
                return {}
            if (info.key if not self.rule.partition_by else self.rule.partition_by) != self.key:
                self._fail(("sequence", "steps", j, "from"), f"stream {name!r} is keyed differently",
                           "set partition_by to a column all steps' streams share")
            # A step sees its own columns and, as e1.x, those of the steps before it.
            visible = {**out, **info.fields}
            w = self._expr(step.where, visible, ("sequence", "steps", j, "where"), "bool") if step.where else None
            if w is not None and w.names & set(out):
                pair_checks[j] = w.fn  # depends on earlier steps: checked per partial match
                w = None
            self.step_where.append((name, w))
            cols.append(list(info.fields))
            names.append(name)
            out.update({f"{aliases[j]}_{c}": t for c, t in info.fields.items()})
        self.op = SequenceOp(aliases, names, cols, spec.within, spec.strict, spec.every, pair_checks)
        return out

    def _row_select(self, fields: dict[str, str]) -> dict[str, str]:
        r = self.rule
        if not r.select:
            return fields
        sel = r.select if isinstance(r.select, dict) else {n: n for n in r.select}
        out: dict[str, str] = {}
        for name, text in sel.items():
            c = self._expr(text, fields, ("select", name))
            if c is not None:
                self.select[name] = c
                out[name] = fields[text] if text in fields else _TYPE_OF_KIND[c.kind]
        return out

    def _predict(self, fields: dict[str, str]) -> Callable[..., Any] | None:
        spec = self.rule.predict
        assert spec is not None
        for c in spec.inputs:
            if c not in fields:
                self._fail(("predict", "inputs"), f"unknown field {c!r}", f"use one of {sorted(fields)}")
        self.stream_model: Any = None
        fn = self.ctx.models.get(spec.model)
        types = {"predict": "float64"}
        err = None
        if fn is None and self.ctx.resolver is not None:
            m, err = self.ctx.resolver.get(spec.model, self.name)
            if err:
                self._fail(("predict", "model"), err,
                           "register the model (loopml models ...) or fix the URI/alias; "
                           "`loopml models list` shows what exists")
            elif m is not None:
                for p in m.input_problems(spec.inputs, fields):
                    self._fail(("predict", "inputs"), p, "list exactly the signature's columns as inputs")
                m.bind(spec.inputs, fields)
                types = m.output_types()
                self.stream_model = fn = m
            if m is not None and spec.proba and "predict_proba" not in types:
                self._fail(("predict", "proba"), f"model {spec.model!r} has no predict_proba",
                           "remove proba, or use a classifier")
        if fn is None and err:
            pass  # reported above
        elif fn is None:
            self._fail(("predict", "model"), f"no model registered as {spec.model!r}",
                       "pass models={'name': callable} to compile_rules, declare it under models: "
                       "with a uri, or give a model URI such as models:/name@champion")
        elif spec.proba and self.stream_model is None:
            self._fail(("predict", "proba"), "proba needs a registered model (a models:/ URI)",
                       "return a dict of arrays from the callable instead")
        for o in [spec.output] if isinstance(spec.output, str) else spec.output:
            fields[o] = types["predict"]
        if spec.proba:
            fields[spec.proba] = "float64"
        return fn

    # ---- run ---------------------------------------------------------------------------------
    def _keys(self, b: Batch, cols: list[str]) -> np.ndarray:
        if not cols:
            return np.zeros(b.n, np.int64)
        if len(cols) == 1:
            return self.encoder.encode(b.cols[cols[0]])
        tuples = np.empty(b.n, dtype=object)
        tuples[:] = list(zip(*[b.cols[c].tolist() for c in cols], strict=True))
        return np.fromiter((self.encoder._code(v) for v in tuples), np.int64, b.n)

    def process(self, stream: str, b: Batch, wm: int) -> Batch | None:
        """The rule's output rows for the batch ``b`` of ``stream`` (None: no rows)."""
        if self.lookup is not None and b.n:
            b = self._join(b)
        if self.where is not None and self.kind != "sequence":
            b = b.take(self.where(b.cols, b.n).astype(bool))
        if self.kind == "window":
            out = self._per_event_window(b, wm)
        elif self.kind == "buckets":
            out = self._buckets(b, wm)
        elif self.kind == "count":
            out = self._count(b, wm)
        elif self.kind == "sequence":
            out = self._seq(stream, b, wm)
        elif self.kind == "absent":
            out = self._absent(b, wm)
        else:
            out = self._apply_select(b)
        if out is None or out.n == 0:
            return None
        if self.having is not None and self.kind not in ("window", "buckets"):
            out = out.take(self.having(out.cols, out.n).astype(bool))
        if self.predict_fn is not None and out.n:
            out = self._run_predict(out)
        if self.suppress is not None and out.n:
            k = self.out_info.key
            assert k is not None
            out = out.take(self.suppress.keep(out.cols[k], out.time))
            self.suppress.expire(wm)
        return out if out.n else None

    def _join(self, b: Batch) -> Batch:
        assert self.lookup is not None
        key, index, cols = self.lookup
        pos = np.fromiter((index.get(v, -1) for v in b.cols[key].tolist()), np.int64, b.n)
        new = dict(b.cols)
        for n, arr in cols.items():
            vals = arr[np.maximum(pos, 0)] if len(arr) else np.full(b.n, np.nan)
            if arr.dtype.kind == "f":
                vals = np.where(pos >= 0, vals, np.nan)
            else:
                vals = np.where(pos >= 0, vals, np.array(None, dtype=object))
            new[n] = vals
        return Batch(new, b.n)

    def _apply_select(self, b: Batch) -> Batch:
        if not self.select:
            return b
        cols = {n: c(b.cols, b.n) for n, c in self.select.items()}
        cols[TIME] = b.time
        return Batch(cols, b.n)

    def _window_out(self, base: Mapping[str, np.ndarray], aggs: Mapping[str, np.ndarray], n: int,
                    time: np.ndarray) -> Batch:
        env = {**base, **aggs}
        cols: dict[str, np.ndarray] = {g: base[g] for g in self.groups if g not in self.select}
        for name, c in self.select.items():
            cols[name] = c(env, n)
        cols[TIME] = time
        out = Batch(cols, n)
        if self.having is not None:
            out = out.take(self.having({**env, **cols}, n).astype(bool))
        return out

    def _per_event_window(self, b: Batch, wm: int) -> Batch | None:
        if isinstance(self.op, CountWindow):
            rows, aggs = self.op.process(self._keys(b, self.groups), b)
            sub = b.take(rows)
            return self._window_out(sub.cols, aggs, sub.n, sub.time)
        aggs = self.op.process(self._keys(b, self.groups), b, wm)
        return self._window_out(b.cols, aggs, b.n, b.time)

    def _buckets(self, b: Batch, wm: int) -> Batch | None:
        codes, ends, aggs = self.op.process(self._keys(b, self.groups), b, wm)
        if not len(codes):
            return None
        vals = self.encoder.decode(codes) if self.groups else np.zeros(len(codes), object)
        base: dict[str, np.ndarray] = {}
        if len(self.groups) == 1:
            base[self.groups[0]] = vals
        for i, g in enumerate(self.groups if len(self.groups) > 1 else []):
            base[g] = np.array([v[i] for v in vals], dtype=object)
        return self._window_out(base, aggs, len(codes), ends)

    def _count(self, b: Batch, wm: int) -> Batch | None:
        assert self.rule.count is not None
        n = self.op.process(self._keys(b, [self.key] if self.key else []), b, wm)["__n"]
        fire = n >= self.rule.count.at_least
        out = b.take(fire)
        cols = dict(out.cols)
        t = cols.pop(TIME)
        cols["n"], cols[TIME] = n[fire], t
        return self._apply_select(Batch(cols, out.n))

    def _seq(self, stream: str, b: Batch, wm: int) -> Batch | None:
        masks: dict[int, np.ndarray] = {}
        pre = self.where(b.cols, b.n).astype(bool) if self.where is not None and stream == self.rule.from_ else None
        for j, (name, w) in enumerate(self.step_where):
            if name != stream:
                continue
            m = w(b.cols, b.n).astype(bool) if w is not None else np.ones(b.n, bool)
            masks[j] = m & pre if pre is not None else m
        key = b.cols[self.key] if self.key else np.zeros(b.n, np.int64)
        rows = self.op.process(stream, key, b, masks, wm)
        return self._apply_select(_rows_batch(rows, self.op.out_columns))

    def _absent(self, b: Batch, wm: int) -> Batch | None:
        after = self.after(b.cols, b.n).astype(bool) if self.after is not None else None
        cancel = self.cancel(b.cols, b.n).astype(bool) if self.cancel is not None else None
        key = b.cols[self.key] if self.key else np.zeros(b.n, np.int64)
        rows = self.op.process(key, b, after, cancel, wm)
        return self._apply_select(_rows_batch(rows, [*self._absent_cols, TIME]))

    def _run_predict(self, b: Batch) -> Batch:
        spec = self.rule.predict
        assert spec is not None and self.predict_fn is not None
        cols = {k: v for k, v in b.cols.items() if k != TIME}
        if self.stream_model is not None:
            res = self.stream_model({c: b.cols[c] for c in spec.inputs}, proba=spec.proba is not None)
            cols[spec.output if isinstance(spec.output, str) else spec.output[0]] = res["predict"]
            if spec.proba:
                cols[spec.proba] = res["predict_proba"]
            cols[TIME] = b.time
            return Batch(cols, b.n)
        res = self.predict_fn({c: b.cols[c] for c in spec.inputs})
        if isinstance(res, Mapping):
            cols.update({k: np.asarray(v) for k, v in res.items()})
        else:
            cols[spec.output if isinstance(spec.output, str) else spec.output[0]] = np.asarray(res)
        cols[TIME] = b.time
        return Batch(cols, b.n)

    def timers(self, wm: int) -> Batch | None:
        """Rows due only to time passing (absence), for a watermark move without events."""
        if self.kind != "absent":
            return None
        return self._apply_select(_rows_batch(self.op.fire(wm), [*self._absent_cols, TIME]))

    def snapshot(self) -> dict[str, Any]:
        s: dict[str, Any] = {"keys": self.encoder.values}
        if self.op is not None:
            s["op"] = self.op.snapshot()
        if self.suppress is not None:
            s["suppress"] = self.suppress.snapshot()
        return s

    def restore(self, s: dict[str, Any]) -> None:
        # msgpack returns group-by tuples (several columns) as lists; keys must be hashable
        self.encoder = KeyEncoder([tuple(v) if isinstance(v, list) else v for v in s["keys"]])
        if self.op is not None:
            self.op.restore(s["op"])
        if self.suppress is not None:
            self.suppress.restore(s["suppress"])


def _rows_batch(rows: list[list[Any]], columns: list[str]) -> Batch:
    """Rows (lists in ``columns`` order) as a Batch; all-number columns become numeric."""
    if not rows:
        return Batch({c: np.empty(0, np.int64 if c == TIME else object) for c in columns}, 0)
    cols: dict[str, np.ndarray] = {}
    for c, vals in zip(columns, zip(*rows, strict=True), strict=True):
        try:
            arr = np.array(vals)  # numbers, booleans and strings find their dtype in C
        except ValueError:
            arr = np.array(vals, dtype=object)
        if c == TIME:
            arr = arr.astype(np.int64)
        elif arr.dtype.kind not in "iufb":
            arr = np.array(vals, dtype=object)  # strings and mixed values stay Python objects
        cols[c] = arr
    return Batch(cols, len(rows))


__all__ = ["AGGREGATES", "Context", "Problem", "RuleExec", "StreamInfo"]
