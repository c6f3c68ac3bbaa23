"""SiddhiQL syntax tree -> loopml rule dict (the canonical YAML shape of ``rules.py``).

One query becomes one rule; the mapping and its boundary rules are the table in
``docs/streaming.md`` ("SiddhiQL subset"). Every refusal is a :class:`SiddhiQLError` naming
the construct with its line and column.
"""

from __future__ import annotations

from typing import Any

from loopml.streaming._siddhiql_ast import (
    App,
    Attr,
    BinOp,
    Call,
    Const,
    Expr,
    InTable,
    IsNull,
    Node,
    PatternElement,
    PatternInput,
    Query,
    StreamInput,
    Unary,
)
from loopml.streaming._siddhiql_lexer import SiddhiQLError

# SiddhiQL attribute type -> loopml schema type.
TYPES = {"string": "str", "int": "int", "long": "long", "float": "float", "double": "double",
         "bool": "bool"}
# Siddhi aggregate -> loopml aggregate (``first``/``last`` are loopml-only: not accepted).
AGGREGATES = {"count": "count", "sum": "sum", "avg": "avg", "min": "min", "max": "max",
              "stddev": "std", "distinctcount": "distinctCount"}
# Scalar functions: Siddhi core and the math: extension -> loopml expression functions.
FUNCTIONS = {("", "maximum"): "greatest", ("", "minimum"): "least",
             ("", "ifthenelse"): "where", ("math", "sqrt"): "sqrt", ("math", "abs"): "abs",
             ("math", "log"): "log", ("math", "log10"): "log10", ("math", "exp"): "exp",
             ("math", "floor"): "floor", ("math", "ceil"): "ceil", ("math", "round"): "round"}
TIME_NAMES = ("ts", "timestamp", "event_time", "time", "eventtime")


def fail(node: Node, message: str, construct: str) -> SiddhiQLError:
    return SiddhiQLError(message, node.line, node.column, construct)


def out_of_subset(node: Node, construct: str, hint: str = "") -> SiddhiQLError:
    msg = f"{construct} is outside loopml's SiddhiQL subset"
    return fail(node, msg + (f"; {hint}" if hint else ""), construct)


# --- expressions -------------------------------------------------------------------------


def render(e: Expr, *, aliases: dict[str, str] | None = None, aggregates: bool = False) -> str:
    """loopml expression text for ``e``. ``aliases`` maps a pattern alias (e1) or stream name
    to the prefix to use ("" drops it); aggregates are allowed only when ``aggregates``."""
    aliases = aliases or {}
    if isinstance(e, Const):
        return _const(e)
    if isinstance(e, Attr):
        if e.index is not None:
            raise out_of_subset(e, f"indexed event reference {e.stream}[{e.index}]",
                                "refer to a pattern event's attributes as e1.name")
        if e.stream is None:
            return e.name
        if e.stream not in aliases:
            raise fail(e, f"unknown stream or event alias {e.stream!r} in {e.stream}.{e.name}",
                       "attribute reference")
        prefix = aliases[e.stream]
        return f"{prefix}.{e.name}" if prefix else e.name
    if isinstance(e, BinOp):
        op = {"==": "==", "!=": "!="}.get(e.op, e.op)
        left = render(e.left, aliases=aliases, aggregates=aggregates)
        right = render(e.right, aliases=aliases, aggregates=aggregates)
        return f"({left} {op} {right})"
    if isinstance(e, Unary):
        inner = render(e.operand, aliases=aliases, aggregates=aggregates)
        return f"(not {inner})" if e.op == "not" else f"(-{inner})"
    if isinstance(e, IsNull):
        return f"({render(e.operand, aliases=aliases, aggregates=aggregates)} is None)"
    if isinstance(e, InTable):
        raise out_of_subset(e, f"'in {e.table}' (table lookup)", "tables are not supported")
    return _call(e, aliases, aggregates)


def _const(e: Const) -> str:
    if e.type == "string":
        return repr(str(e.value))
    if e.type == "bool":
        return "True" if e.value else "False"
    if e.type == "null":
        return "None"
    return repr(e.value)


def _call(e: Call, aliases: dict[str, str], aggregates: bool) -> str:
    name = e.name.lower()
    ns = (e.namespace or "").lower()
    if not ns and name in AGGREGATES:
        if not aggregates:
            raise out_of_subset(e, f"aggregate {e.name}() outside a windowed query",
                                "aggregates need a #window (loopml keeps no unbounded state)")
        if name == "count" and e.args:
            raise out_of_subset(e, "count(attribute)", "use count()")
        args = ", ".join(render(a, aliases=aliases) for a in e.args)
        return f"{AGGREGATES[name]}({args})"
    fn = FUNCTIONS.get((ns, name))
    if fn is None:
        shown = f"{e.namespace}:{e.name}" if e.namespace else e.name
        supported = ", ".join(sorted(f"{n}:{f}" if n else f for n, f in FUNCTIONS)
                              + sorted(AGGREGATES))
        raise out_of_subset(e, f"function {shown}()", f"supported: {supported}")
    args = ", ".join(render(a, aliases=aliases, aggregates=aggregates) for a in e.args)
    return f"{fn}({args})"


def conjuncts(e: Expr | None) -> list[Expr]:
    if e is None:
        return []
    if isinstance(e, BinOp) and e.op == "and":
        return conjuncts(e.left) + conjuncts(e.right)
    return [e]


def conjoin(parts: list[Expr]) -> Expr | None:
    out: Expr | None = None
    for p in parts:
        out = p if out is None else BinOp(p.line, p.column, "and", out, p)
    return out


def all_filters(filters: tuple[Expr, ...]) -> Expr | None:
    return conjoin([c for f in filters for c in conjuncts(f)])


def split_key(cond: Expr | None, alias: str) -> tuple[str | None, Expr | None]:
    """Find ``k == alias.k`` (either side) among the conjuncts of ``cond``: (k, the rest)."""
    key, rest = None, []
    for c in conjuncts(cond):
        k = _key_equality(c, alias)
        if k is not None and key is None:
            key = k
        else:
            rest.append(c)
    return key, conjoin(rest)


def _key_equality(c: Expr, alias: str) -> str | None:
    if not (isinstance(c, BinOp) and c.op == "=="):
        return None
    a, b = c.left, c.right
    for x, y in ((a, b), (b, a)):
        if (isinstance(x, Attr) and isinstance(y, Attr) and x.stream is None and y.stream == alias
                and y.index is None and x.name == y.name):
            return x.name
    return None


def mentions_alias(e: Expr | None, aliases: set[str]) -> Attr | None:
    """The first attribute of ``e`` that refers to one of ``aliases`` (or None)."""
    if e is None:
        return None
    if isinstance(e, Attr):
        return e if e.stream in aliases else None
    children: list[Expr] = []
    if isinstance(e, BinOp):
        children = [e.left, e.right]
    elif isinstance(e, Unary | IsNull | InTable):
        children = [e.operand]
    elif isinstance(e, Call):
        children = list(e.args)
    for ch in children:
        found = mentions_alias(ch, aliases)
        if found is not None:
            return found
    return None


# --- the app -----------------------------------------------------------------------------


def compile_app(app: App, *, event_time: str | None = None, lateness_ms: int = 0,
                keys: dict[str, str] | None = None) -> dict[str, Any]:
    """The rule dict of ``app`` (validate it with ``RuleApp``/``compile_rules``).

    ``event_time``: the attribute holding each event's time in ms (default: the stream's
    long attribute named ts, timestamp, event_time or time). ``keys``: stream -> key
    attribute for streams whose key cannot be inferred (default: from partitions, group by
    and pattern key equalities).
    """
    if not app.queries:
        raise SiddhiQLError("the app has no query", 1, 1, "app")
    targets = {q.target.lstrip("#") for q in app.queries}
    rules = [QueryCompiler(app, q, i).rule() for i, q in enumerate(app.queries)]
    inferred = dict(keys or {})
    for q, r in zip(app.queries, rules, strict=True):
        if r.get("partition_by") and isinstance(q.input, StreamInput):
            inferred.setdefault(q.input.stream, r["partition_by"])
    sources: dict[str, Any] = {}
    for name, sdef in app.streams.items():
        if name in targets:
            continue
        attrs = dict(sdef.attributes)
        time_attr = event_time or next((a for a in attrs if a.lower() in TIME_NAMES
                                        and attrs[a] in ("long", "int")), None)
        if time_attr is None or time_attr not in attrs:
            raise fail(sdef, f"stream {name!r} has no event-time attribute: loopml needs one (a long "
                       "of milliseconds, as @app:playback uses); add e.g. 'ts long' or pass event_time=",
                       "define stream")
        src: dict[str, Any] = {"event_time": time_attr,
                               "schema": {a: TYPES[t] for a, t in sdef.attributes}}
        if name in inferred:
            src["key"] = inferred[name]
        sources[name] = src
    return {"version": 1, "app": app.name or "siddhiql", "time": {"lateness": lateness_ms},
            "sources": sources, "rules": rules}


class QueryCompiler:
    """One query -> one rule dict."""

    def __init__(self, app: App, q: Query, index: int) -> None:
        self.app, self.q = app, q
        self.name = q.name or f"q{index + 1}_{q.target.lstrip('#')}"

    def rule(self) -> dict[str, Any]:
        q = self.q
        rule = self.pattern(q.input) if isinstance(q.input, PatternInput) else self.stream(q.input)
        rule = {"name": self.name, **rule, "as": q.target.lstrip("#")}
        if q.output is not None:
            rule.update(self.output_rate(rule))
        return {k: v for k, v in rule.items() if v is not None}

    # --- stream queries (filter, windows) ---------------------------------------------------

    def stream(self, inp: StreamInput) -> dict[str, Any]:
        q = self.q
        self._check_stream(inp.stream, inp)
        aliases = {inp.stream: ""}
        where = all_filters(inp.filters)
        rule: dict[str, Any] = {"from": inp.stream.lstrip("#"),
                                "where": render(where, aliases=aliases) if where else None,
                                "partition_by": q.partition_key}
        if inp.post_filters:
            raise out_of_subset(inp.post_filters[0], "a filter after a window",
                                "filter before the window (S[cond]#window...) or use having")
        if inp.window is None:
            if q.group_by or q.having is not None:
                node = q.group_by[0] if q.group_by else q.having
                assert node is not None
                raise out_of_subset(node, "group by/having without a window",
                                    "add #window.time(...) or another window")
            rule["select"] = self.select(aliases, aggregates=False)
            return rule
        rule.update(self.window(inp, aliases))
        return rule

    def _check_stream(self, stream: str, node: Node) -> None:
        if stream not in self.app.streams and not any(
                q.target == stream for q in self.app.queries):
            raise fail(node, f"unknown stream {stream!r}: define it with 'define stream'",
                       "stream reference")

    def window(self, inp: StreamInput, aliases: dict[str, str]) -> dict[str, Any]:
        q, w = self.q, inp.window
        assert w is not None
        name = w.name.lower()
        groups = [g.name for g in q.group_by]
        key = q.partition_key
        if key is None and len(groups) != 1 and name in ("time", "externaltime", "timebatch",
                                                         "externaltimebatch"):
            raise out_of_subset(w, f"#window.{w.name} without a key",
                                "loopml windows are per key: add 'group by <key>' or a partition")
        if key is None and name in ("length", "lengthbatch"):
            raise out_of_subset(w, f"#window.{w.name} outside a partition",
                                "Siddhi's length windows span all keys; loopml's are per key: "
                                "wrap the query in partition with (key of S) begin ... end")
        spec = self._window_spec(w.name, name, w.args)
        partition = key if key is not None else groups[0]
        extra = [g for g in groups if g != partition]
        if extra:
            raise out_of_subset(q.group_by[0], "group by more than the key",
                                "group by the one key attribute (or the partition key)")
        having = render(q.having, aliases=aliases, aggregates=True) if q.having is not None else None
        return {"window": spec, "partition_by": partition, "group_by": [partition],
                "select": self.select(aliases, aggregates=True), "having": having}

    def _window_spec(self, shown: str, name: str, args: tuple[Expr, ...]) -> dict[str, Any]:
        w = self.q.input
        assert isinstance(w, StreamInput) and w.window is not None
        node = w.window
        if name in ("externaltime", "externaltimebatch"):
            if not args or not isinstance(args[0], Attr):
                raise fail(node, f"#window.{shown} needs (timestamp attribute, duration)", "window")
            args = args[1:]
        if name in ("time", "externaltime"):
            return {"sliding": self._duration(args, 1, shown)}
        if name in ("timebatch", "externaltimebatch"):
            width = self._duration(args[:1], 1, shown)
            if len(args) > 1:
                start = args[1]
                if not (isinstance(start, Const) and isinstance(start.value, int)
                        and start.value % width == 0):
                    raise out_of_subset(start, f"#window.{shown} start time not a multiple of the width",
                                        "loopml tumbling windows are aligned to multiples of the width")
                if len(args) > 2:
                    raise out_of_subset(args[2], f"#window.{shown} with more than two arguments")
            return {"tumbling": width}
        if name in ("length", "lengthbatch"):
            if len(args) != 1 or not (isinstance(args[0], Const) and args[0].type in ("int", "long")):
                raise fail(node, f"#window.{shown} needs one integer (the number of events)", "window")
            n = int(args[0].value)  # type: ignore[call-overload]
            if n <= 0:
                raise fail(args[0], f"#window.{shown} needs a positive number of events", "window")
            return {"count": n} if name == "length" else {"count": n, "every": n}
        raise out_of_subset(node, f"#window.{shown}",
                            "supported windows: time, externalTime, timeBatch, externalTimeBatch, "
                            "length, lengthBatch")

    def _duration(self, args: tuple[Expr, ...], n: int, shown: str) -> int:
        w = self.q.input
        assert isinstance(w, StreamInput) and w.window is not None
        if len(args) != n or not (isinstance(args[0], Const) and args[0].type in ("time", "int", "long")):
            raise fail(w.window, f"#window.{shown} needs a duration such as 1 sec", "window")
        ms = int(args[0].value)  # type: ignore[call-overload]
        if ms <= 0:
            raise fail(args[0], f"#window.{shown} needs a positive duration, got {ms} ms", "window")
        return ms

    def select(self, aliases: dict[str, str], *, aggregates: bool) -> dict[str, str] | None:
        q = self.q
        if q.select is None:
            return None
        out: dict[str, str] = {}
        for item in q.select:
            name = item.alias
            if name is None:
                if not isinstance(item.expr, Attr):
                    raise fail(item, "an expression in select needs 'as <name>'", "select")
                name = item.expr.name
            if name in out:
                raise fail(item, f"output attribute {name!r} appears twice", "select")
            out[name] = render(item.expr, aliases=aliases, aggregates=aggregates)
        return out

    def output_rate(self, rule: dict[str, Any]) -> dict[str, Any]:
        o = self.q.output
        assert o is not None
        if o.kind == "first" and o.every_ms is not None:
            if not rule.get("partition_by"):
                raise out_of_subset(o, "output first every without a key",
                                    "use it inside a partition or a keyed query (suppression is per key)")
            return {"suppress": {"per_key": o.every_ms}}
        what = f"output {o.kind} every " + (f"{o.every_events} events" if o.every_events else "<time>")
        raise out_of_subset(o, what, "supported: 'output first every <time>' (per-key suppression)")

    # --- patterns ----------------------------------------------------------------------------

    def pattern(self, p: PatternInput) -> dict[str, Any]:
        els = p.elements
        for e in els:
            self._check_stream(e.stream, e)
        if any(e.every for e in els[1:]):
            bad = next(e for e in els[1:] if e.every)
            raise out_of_subset(bad, "'every' inside a pattern", "put every on the first element only")
        if len(els) == 2 and els[1].negated:
            return self.absent(els[0], els[1], p)
        for e in els:
            if e.negated:
                raise out_of_subset(e, "'not' here", "supported: every e1=A -> not B[...] for <time>")
        bad_count = next((e for e in els if e.count is not None), None)
        if bad_count is not None:
            return self.counting(bad_count, p)
        if len(els) < 2:
            raise out_of_subset(p, "a one-element pattern", "use a filter query")
        if p.within_ms is None:
            raise out_of_subset(p, "a pattern without 'within'",
                                "add 'within <time>': loopml keeps no unbounded partial matches")
        if p.sequence and self.q.partition_key is None:
            raise out_of_subset(p, "a sequence (',') outside a partition",
                                "Siddhi sequences are strict over all keys; wrap it in a partition")
        return self.followed_by(p)

    def _alias(self, e: PatternElement, i: int) -> str:
        return e.alias or f"e{i + 1}"

    def _pattern_key(self, els: tuple[PatternElement, ...], first_alias: str) -> tuple[str, list[Expr | None]]:
        """The key of a pattern and each element's condition without the key equality."""
        key = self.q.partition_key
        conds: list[Expr | None] = [all_filters(els[0].filters)]
        for e in els[1:]:
            k, rest = split_key(all_filters(e.filters), first_alias)
            if k is not None and key is not None and k != key:
                raise fail(e, f"the pattern's key {k!r} differs from the partition key {key!r}",
                           "pattern key")
            key = key or k
            if k is None and self.q.partition_key is None:
                raise out_of_subset(e, "a pattern element without a key equality",
                                    f"loopml patterns are per key: add <key> == {first_alias}.<key> to "
                                    "its filter, or use a partition")
            conds.append(rest)
        assert key is not None
        return key, conds

    def followed_by(self, p: PatternInput) -> dict[str, Any]:
        els = p.elements
        aliases = [self._alias(e, i) for i, e in enumerate(els)]
        key, conds = self._pattern_key(els, aliases[0])
        steps = []
        for i, (e, cond) in enumerate(zip(els, conds, strict=True)):
            found = mentions_alias(cond, set(aliases))
            if found is not None:
                raise out_of_subset(found, f"a reference to {found.stream}.{found.name} in a step filter",
                                    "steps compare with earlier events only through the key")
            where = render(cond, aliases={e.stream: ""}) if cond is not None else None
            step: dict[str, Any] = {"as": aliases[i]}
            if e.stream != els[0].stream:
                step["from"] = e.stream.lstrip("#")
            if where:
                step["where"] = where
            steps.append(step)
        seq = {"steps": steps, "within": p.within_ms, "strict": p.sequence, "every": els[0].every}
        return {"from": els[0].stream.lstrip("#"), "partition_by": key, "sequence": seq,
                "select": self._pattern_select({a: a for a in aliases})}

    def _pattern_select(self, aliases: dict[str, str]) -> dict[str, str] | None:
        q = self.q
        if q.group_by or q.having is not None:
            node = q.group_by[0] if q.group_by else q.having
            assert node is not None
            raise out_of_subset(node, "group by/having on a pattern")
        if q.select is None:
            raise fail(q, "a pattern query needs a select (Siddhi's select * is ambiguous)", "select")
        out: dict[str, str] = {}
        for item in q.select:
            if item.alias is None and not isinstance(item.expr, Attr):
                raise fail(item, "an expression in select needs 'as <name>'", "select")
            name = item.alias or item.expr.name  # type: ignore[union-attr]
            if isinstance(item.expr, Attr) and item.expr.stream is None:
                raise fail(item, f"{item.expr.name!r} is ambiguous in a pattern: write e1.{item.expr.name}",
                           "select")
            out[name] = render(item.expr, aliases=aliases)
        return out

    def absent(self, first: PatternElement, neg: PatternElement, p: PatternInput) -> dict[str, Any]:
        if first.negated or first.count is not None:
            raise out_of_subset(first, "a pattern starting with 'not'",
                                "supported: every e1=A -> not B[...] for <time>")
        if not first.every:
            raise out_of_subset(first, "absence without 'every'", "write every e1=A -> not B ... for T")
        if neg.for_ms is None:
            raise out_of_subset(neg, "'not' without 'for'", "write not B[...] for <time>")
        if p.within_ms is not None:
            raise out_of_subset(p, "'within' on an absence pattern", "'for' is the time limit")
        if first.stream != neg.stream:
            raise out_of_subset(neg, "absence across two streams", "arm and cancel on one stream")
        alias = self._alias(first, 0)
        key, conds = self._pattern_key((first, neg), alias)
        found = mentions_alias(conds[1], {alias})
        if found is not None:
            raise out_of_subset(found, f"a reference to {found.stream}.{found.name} in the 'not' filter")
        local = {first.stream: ""}
        spec: dict[str, Any] = {"for": neg.for_ms}
        if conds[0] is not None:
            spec["after"] = render(conds[0], aliases=local)
        if conds[1] is not None:
            spec["cancel"] = render(conds[1], aliases=local)
        return {"from": first.stream.lstrip("#"), "partition_by": key, "absent": spec,
                "select": self._pattern_select({alias: ""})}

    def counting(self, e: PatternElement, p: PatternInput) -> dict[str, Any]:
        """Refused: Siddhi's counting pattern ``every e1=S[c]<n:> within T`` collects events
        into one match and restarts after it (one output per non-overlapping group of n,
        attributes are collections); measured against Siddhi 5.1.7, it is not loopml's
        per-event ``count``. The per-event count is written with a window."""
        assert e.count is not None
        lo, hi = e.count
        shown = f"<{lo}:{'' if hi is None else hi}>" if hi != lo else f"<{lo}>"
        raise out_of_subset(e, f"counting pattern {shown}",
                            f"for 'at least {lo} within T per key' write partition with (k of "
                            f"{e.stream}) begin from {e.stream}[cond]#window.time(T) select k, "
                            f"count() as n having n >= {lo} insert into Out; end")
