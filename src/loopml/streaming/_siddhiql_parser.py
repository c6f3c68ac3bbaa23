"""Recursive-descent parser for loopml's SiddhiQL subset (tokens from ``_siddhiql_lexer``).

The grammar follows Siddhi 5.x's ``SiddhiQL.g4`` for the constructs it accepts. Constructs of
full SiddhiQL that loopml does not run (joins, tables, triggers, functions, aggregations,
logical patterns, sequence quantifiers, range partitions, order by/limit, expired events, ...)
are recognised by their first token and refused with a :class:`SiddhiQLError` that names the
construct, its line and column; nothing is partially accepted.
"""

from __future__ import annotations

from dataclasses import replace

from loopml.streaming._siddhiql_ast import (
    Annotation,
    App,
    Attr,
    BinOp,
    Call,
    Const,
    Expr,
    InTable,
    IsNull,
    OutputRate,
    Partition,
    PatternElement,
    PatternInput,
    Query,
    SelectItem,
    StreamDef,
    StreamInput,
    Unary,
    WindowSpec,
)
from loopml.streaming._siddhiql_lexer import SiddhiQLError, Token, tokenize

TYPES = ("string", "int", "long", "float", "double", "bool", "object")
# Time units of SiddhiQL in milliseconds (``time_value`` of the grammar).
UNITS = {
    "millisec": 1, "millisecond": 1, "milliseconds": 1, "ms": 1,
    "sec": 1000, "second": 1000, "seconds": 1000,
    "min": 60_000, "minute": 60_000, "minutes": 60_000,
    "hour": 3_600_000, "hours": 3_600_000, "day": 86_400_000, "days": 86_400_000,
    "week": 604_800_000, "weeks": 604_800_000,
}
# Keywords that can never be an attribute or function name; the others (min, first, last,
# events, ...) are names where the grammar expects one.
RESERVED = frozenset("""define from select insert into output every within for not and or is
in partition with of begin end group by having as join on unidirectional delete update return
order limit offset true false null""".split())  # noqa: SIM905
_COMPARE = ("<", "<=", ">", ">=")


def unsupported(tok: Token, construct: str, hint: str = "") -> SiddhiQLError:
    """The error for a valid SiddhiQL construct that loopml's subset does not run."""
    msg = f"{construct} is outside loopml's SiddhiQL subset"
    return SiddhiQLError(msg + (f"; {hint}" if hint else ""), tok.line, tok.column, construct)


class Parser:
    """``Parser(text).app()`` -> :class:`App`; raises SiddhiQLError."""

    def __init__(self, text: str) -> None:
        self.toks = tokenize(text)
        self.i = 0

    # --- token helpers ---------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def at(self, *texts: str) -> bool:
        t = self.tok
        return t.kind in ("KEYWORD", "OP") and t.text in texts

    def take(self) -> Token:
        t = self.tok
        self.i += 1
        return t

    def accept(self, *texts: str) -> Token | None:
        return self.take() if self.at(*texts) else None

    def expect(self, text: str, what: str = "") -> Token:
        if not self.at(text):
            raise self.error(f"expected '{text}'" + (f" {what}" if what else ""))
        return self.take()

    def error(self, message: str, tok: Token | None = None) -> SiddhiQLError:
        t = tok or self.tok
        found = "end of input" if t.kind == "EOF" else repr(t.raw or t.text)
        return SiddhiQLError(f"{message}, found {found}", t.line, t.column, "syntax")

    def is_name(self, tok: Token | None = None) -> bool:
        t = tok or self.tok
        return t.kind == "NAME" or (t.kind == "KEYWORD" and t.text not in RESERVED)

    def name(self, what: str = "a name") -> str:
        if not self.is_name():
            raise self.error(f"expected {what}")
        t = self.take()
        return t.raw or t.text

    # --- app -------------------------------------------------------------------------------

    def app(self) -> App:
        app = App()
        while self.tok.kind != "EOF":
            annotations: list[Annotation] = []
            for a in self.annotations():
                # @app:name('x'), @app:playback, ... describe the app; others the next statement.
                (app.annotations if a.name.lower().startswith("app:") else annotations).append(a)
            if self.at("define"):
                self.definition(app, annotations)
            elif self.at("partition"):
                app.partitions.append(self.partition())
            elif self.at("from"):
                app.queries.append(self.query(annotations))
            elif self.tok.kind == "EOF" and not annotations:
                break
            else:
                raise self.error("expected 'define', 'from' or 'partition'")
            if not self.accept(";") and self.tok.kind != "EOF":
                raise self.error("expected ';' at the end of the statement")
        for a in app.annotations:
            if a.name.lower() == "app:name":
                app.name = a.get("") or a.get("name")
        return app

    def annotations(self) -> list[Annotation]:
        out = []
        while self.at("@"):
            out.append(self.annotation())
        return out

    def annotation(self) -> Annotation:
        at = self.expect("@")
        name = self.name("an annotation name")
        if self.accept(":"):
            name += ":" + self.name("an annotation name")
        elements: list[tuple[str, str]] = []
        if self.accept("("):
            while not self.at(")"):
                if self.at("@"):
                    self.annotation()  # nested annotations (e.g. @map in @source) are ignored
                else:
                    elements.append(self._annotation_element())
                if not self.accept(","):
                    break
            self.expect(")", "closing the annotation")
        return Annotation(at.line, at.column, name, tuple(elements))

    def _annotation_element(self) -> tuple[str, str]:
        key = ""
        if self.is_name():
            key = self.name()
            while self.accept("."):
                key += "." + self.name()
            self.expect("=", "after the annotation key")
        if self.tok.kind != "STRING":
            raise self.error("expected a quoted annotation value")
        return key, self.take().text

    def definition(self, app: App, annotations: list[Annotation]) -> None:
        start = self.expect("define")
        kind = self.tok
        if not self.accept("stream"):
            if kind.kind in ("KEYWORD", "NAME"):
                raise unsupported(kind, f"define {kind.text}",
                                  "only 'define stream' is supported (tables, windows, triggers, "
                                  "functions and aggregations are not)")
            raise self.error("expected 'stream' after 'define'")
        name = self.name("a stream name")
        if name in app.streams:
            raise SiddhiQLError(f"stream {name!r} is defined twice", start.line, start.column,
                                "define stream")
        self.expect("(", "after the stream name")
        attrs: list[tuple[str, str]] = []
        while True:
            attr_tok = self.tok
            attr = self.name("an attribute name")
            type_tok = self.tok
            typ = (type_tok.text if type_tok.kind == "KEYWORD" else type_tok.text.lower())
            if typ not in TYPES:
                raise self.error(f"expected an attribute type ({', '.join(TYPES)})")
            if typ == "object":
                raise unsupported(type_tok, "attribute type object")
            self.take()
            if any(a == attr for a, _ in attrs):
                raise SiddhiQLError(f"attribute {attr!r} appears twice in stream {name!r}",
                                    attr_tok.line, attr_tok.column, "define stream")
            attrs.append((attr, typ))
            if not self.accept(","):
                break
        self.expect(")", "closing the attribute list")
        app.streams[name] = StreamDef(start.line, start.column, name, tuple(attrs), tuple(annotations))

    def partition(self) -> Partition:
        start = self.expect("partition")
        self.expect("with")
        self.expect("(", "after 'partition with'")
        keys: list[tuple[str, str]] = []
        while True:
            tok = self.tok
            expr = self.expr()
            if not isinstance(expr, Attr) or expr.stream is not None or not self.at("of"):
                raise unsupported(tok, "range partition",
                                  "partition by an attribute: partition with (key of Stream)")
            self.expect("of")
            keys.append((self.name("a stream name"), expr.name))
            if not self.accept(","):
                break
        self.expect(")", "closing the partition keys")
        self.expect("begin")
        queries: list[Query] = []
        while not self.at("end"):
            annotations = self.annotations()
            if not self.at("from"):
                raise self.error("expected a query ('from ...') inside the partition")
            queries.append(self.query(annotations))
            self.expect(";", "after the query")
        self.expect("end")
        return Partition(start.line, start.column, tuple(keys), tuple(queries))

    # --- queries ---------------------------------------------------------------------------

    def query(self, annotations: list[Annotation]) -> Query:
        start = self.expect("from")
        name = next((a.get("name") for a in annotations if a.name.lower() == "info"), None)
        inp = self.query_input()
        select = None
        if self.accept("select"):
            select = self.select_list()
        group_by: list[Attr] = []
        having = None
        if self.at("group"):
            self.take()
            self.expect("by")
            group_by.append(self._attr_only("group by"))
            while self.accept(","):
                group_by.append(self._attr_only("group by"))
        if self.accept("having"):
            having = self.expr()
        for word in ("order", "limit", "offset"):
            if self.at(word):
                raise unsupported(self.tok, word if word != "order" else "order by")
        output = self.output_rate() if self.at("output") else None
        target, event_type = self.query_output()
        return Query(start.line, start.column, inp, target, select, tuple(group_by), having,
                     output, event_type, name)

    def _attr_only(self, clause: str) -> Attr:
        tok = self.tok
        e = self.expr()
        if not isinstance(e, Attr):
            raise unsupported(tok, f"an expression in {clause}", "name attributes only")
        return e

    def query_input(self) -> StreamInput | PatternInput:
        if self.at("every", "not", "("):
            return self.pattern()
        if self.is_name() and self.peek().kind == "OP" and self.peek().text == "=":
            return self.pattern()
        start = self.tok
        stream = self.name("a stream name")
        filters = self.filters()
        count = self._count() if self.at("<") else None
        if self.at("->", ",") or count is not None or self.at("within"):
            first = PatternElement(start.line, start.column, stream, None, tuple(filters), count)
            return self.pattern(first)
        window = None
        post: list[Expr] = []
        if self.tok.kind == "NAME" and self.tok.text == "#window":
            window = self.window()
            post = self.filters()
        elif self.tok.kind == "NAME" and self.tok.text.startswith("#") or self.at("#"):
            raise unsupported(self.tok, "stream function", "only #window.<name>(...) handlers")
        if self.at("join", "left", "right", "full", "inner", "unidirectional"):
            raise unsupported(self.tok, "join", "stream joins are not supported")
        if self.tok.kind == "NAME" and self.tok.text.startswith("#window"):
            raise unsupported(self.tok, "a second window", "Siddhi allows one window per input")
        return StreamInput(start.line, start.column, stream, tuple(filters), window, tuple(post))

    def filters(self) -> list[Expr]:
        out = []
        while self.at("["):
            self.take()
            out.append(self.expr())
            self.expect("]", "closing the filter")
        return out

    def window(self) -> WindowSpec:
        start = self.take()  # '#window'
        self.expect(".", "after '#window'")
        name = self.name("a window name")
        if self.accept(":"):
            raise unsupported(start, f"window {name}:{self.name()}", "extension windows")
        self.expect("(", "after the window name")
        args: list[Expr] = []
        while not self.at(")"):
            args.append(self.expr())
            if not self.accept(","):
                break
        self.expect(")", "closing the window arguments")
        return WindowSpec(start.line, start.column, name, tuple(args))

    def pattern(self, first: PatternElement | None = None) -> PatternInput:
        elements: list[PatternElement] = [first] if first else [self.pattern_element()]
        line, column = (first.line, first.column) if first else (elements[0].line, elements[0].column)
        sequence = False
        while self.at("->", ","):
            sep = self.take()
            if sep.text == "," and len(elements) == 1:
                sequence = True
            elif (sep.text == ",") != sequence:
                raise unsupported(sep, "mixing '->' and ',' in one pattern")
            elements.append(self.pattern_element())
        within = None
        if self.accept("within"):
            within = self.duration()
        if self.at("and", "or"):
            raise unsupported(self.tok, "logical pattern", "'and'/'or' between pattern elements")
        return PatternInput(line, column, tuple(elements), within, sequence)

    def pattern_element(self) -> PatternElement:
        start = self.tok
        every = bool(self.accept("every"))
        if self.at("("):
            raise unsupported(self.tok, "a parenthesised pattern", "write every e1=A -> e2=B")
        if self.accept("not"):
            stream = self.name("a stream name")
            filters = self.filters()
            for_ms = None
            if self.accept("for"):
                for_ms = self.duration()
            if self.at("and", "or"):
                raise unsupported(self.tok, "logical pattern", "'not A and B' is not supported")
            return PatternElement(start.line, start.column, stream, None, tuple(filters), None,
                                  True, for_ms, every)
        alias = None
        if self.is_name() and self.peek().kind == "OP" and self.peek().text == "=":
            alias = self.name()
            self.take()
        stream = self.name("a stream name")
        filters = self.filters()
        count = self._count() if self.at("<") else None
        if self.at("+", "*", "?"):
            raise unsupported(self.tok, f"sequence quantifier {self.tok.text}", "use <n:m> counts")
        if self.at("and", "or"):
            raise unsupported(self.tok, "logical pattern", "'and'/'or' between pattern elements")
        return PatternElement(start.line, start.column, stream, alias, tuple(filters), count,
                              False, None, every)

    def _count(self) -> tuple[int, int | None]:
        self.expect("<")
        lo = int(self.take().text) if self.tok.kind == "INT" else 0
        hi: int | None = lo
        if self.accept(":"):
            hi = int(self.take().text) if self.tok.kind == "INT" else None
        self.expect(">", "closing the count")
        return lo, hi

    def duration(self) -> int:
        e = self.primary()
        if isinstance(e, Const) and e.type in ("time", "int", "long"):
            return int(e.value)  # type: ignore[call-overload]
        raise SiddhiQLError("expected a duration such as '10 sec'", e.line, e.column, "syntax")

    def select_list(self) -> tuple[SelectItem, ...] | None:
        if self.accept("*"):
            return None
        items = []
        while True:
            tok = self.tok
            e = self.expr()
            alias = self.name("an output attribute name") if self.accept("as") else None
            items.append(SelectItem(tok.line, tok.column, e, alias))
            if not self.accept(","):
                return tuple(items)

    def output_rate(self) -> OutputRate:
        start = self.expect("output")
        kind = "all"
        if self.at("first", "last", "all", "snapshot"):
            kind = self.take().text
        self.expect("every", "in the output rate")
        value = self.primary()
        if not isinstance(value, Const) or value.type not in ("time", "int", "long"):
            raise SiddhiQLError("expected '<n> events' or a duration after 'every'",
                                value.line, value.column, "syntax")
        if self.accept("events"):
            return OutputRate(start.line, start.column, kind, None, int(value.value))  # type: ignore[call-overload]
        if value.type != "time":
            raise self.error("expected 'events' or a time unit")
        return OutputRate(start.line, start.column, kind, int(value.value), None)  # type: ignore[call-overload]

    def query_output(self) -> tuple[str, str]:
        if self.at("delete", "update", "return"):
            raise unsupported(self.tok, self.tok.text, "queries insert into a stream")
        self.expect("insert", "(queries end with 'insert into <stream>')")
        event_type = "current"
        if self.at("current", "expired", "all"):
            tok = self.take()
            self.expect("events")
            if tok.text != "current":
                raise unsupported(tok, f"insert {tok.text} events", "loopml emits current events")
        elif self.at("events"):
            self.take()
        self.expect("into")
        return self.name("an output stream name"), event_type

    # --- expressions -----------------------------------------------------------------------

    def expr(self) -> Expr:
        return self._or()

    def _or(self) -> Expr:
        left = self._and()
        while self.at("or"):
            self.take()
            left = BinOp(left.line, left.column, "or", left, self._and())
        return left

    def _and(self) -> Expr:
        left = self._in()
        while self.at("and"):
            self.take()
            left = BinOp(left.line, left.column, "and", left, self._in())
        return left

    def _in(self) -> Expr:
        left = self._eq()
        if self.at("in"):
            self.take()
            return InTable(left.line, left.column, left, self.name("a table name"))
        return left

    def _eq(self) -> Expr:
        left = self._cmp()
        while self.at("==", "!="):
            t = self.take()
            left = BinOp(left.line, left.column, t.text, left, self._cmp())
        return left

    def _cmp(self) -> Expr:
        left = self._add()
        while self.at(*_COMPARE):
            t = self.take()
            left = BinOp(left.line, left.column, t.text, left, self._add())
        return left

    def _add(self) -> Expr:
        left = self._mul()
        while self.at("+", "-"):
            t = self.take()
            left = BinOp(left.line, left.column, t.text, left, self._mul())
        return left

    def _mul(self) -> Expr:
        left = self._unary()
        while self.at("*", "/", "%"):
            t = self.take()
            left = BinOp(left.line, left.column, t.text, left, self._unary())
        return left

    def _unary(self) -> Expr:
        if self.at("not"):
            t = self.take()
            return Unary(t.line, t.column, "not", self._unary())
        if self.at("-") and self.peek().kind not in ("INT", "FLOAT"):
            t = self.take()
            return Unary(t.line, t.column, "-", self._unary())
        e = self.primary()
        if self.at("is"):
            t = self.take()
            self.expect("null", "after 'is'")
            return IsNull(t.line, t.column, e)
        return e

    def primary(self) -> Expr:
        t = self.tok
        if self.accept("("):
            e = self.expr()
            self.expect(")", "closing the parenthesis")
            return e
        if t.kind in ("INT", "FLOAT") or (self.at("-") and self.peek().kind in ("INT", "FLOAT")):
            return self._number()
        if t.kind == "STRING":
            self.take()
            return Const(t.line, t.column, t.text, "string")
        if self.at("true", "false"):
            self.take()
            return Const(t.line, t.column, t.text == "true", "bool")
        if self.at("null"):
            self.take()
            return Const(t.line, t.column, None, "null")
        if self.is_name():
            return self._name_expr()
        raise self.error("expected an expression")

    def _number(self) -> Expr:
        start = self.tok
        sign = -1 if self.accept("-") else 1
        t = self.take()
        if t.kind == "INT" and not t.suffix and self._unit_ahead():
            ms = sign * int(t.text) * UNITS[self._unit()]
            while self.tok.kind == "INT" and self._unit_ahead(1):
                ms += int(self.take().text) * UNITS[self._unit()]
            return Const(start.line, start.column, ms, "time")
        if t.kind == "INT":
            return Const(start.line, start.column, sign * int(t.text), "long" if t.suffix == "l" else "int")
        typ = "float" if t.suffix == "f" else "double"
        return Const(start.line, start.column, sign * float(t.text), typ)

    def _unit_ahead(self, ahead: int = 0) -> bool:
        t = self.peek(ahead) if ahead else self.tok
        return t.kind in ("KEYWORD", "NAME") and t.text.lower() in UNITS

    def _unit(self) -> str:
        return self.take().text.lower()

    def _name_expr(self) -> Expr:
        t = self.tok
        first = self.name()
        if self.accept(":"):
            fn = self.name("a function name")
            return Call(t.line, t.column, fn, self._args(), namespace=first)
        if self.at("("):
            return Call(t.line, t.column, first, self._args())
        index: int | str | None = None
        if self.at("[") and self.peek().kind in ("INT", "KEYWORD", "NAME") and self.peek(2).text == "]":
            self.take()
            idx = self.take()
            index = int(idx.text) if idx.kind == "INT" else idx.text.lower()
            self.expect("]")
        if self.accept("."):
            return Attr(t.line, t.column, self.name("an attribute name"), first, index)
        if index is not None:
            raise self.error("expected '.attribute' after the indexed event")
        return Attr(t.line, t.column, first)

    def _args(self) -> tuple[Expr, ...]:
        self.expect("(")
        args: list[Expr] = []
        if self.accept("*"):
            self.expect(")")
            return ()
        while not self.at(")"):
            args.append(self.expr())
            if not self.accept(","):
                break
        self.expect(")", "closing the function arguments")
        return tuple(args)


def parse(text: str) -> App:
    """Parse a SiddhiQL app (loopml's subset); raises SiddhiQLError with line and column.

    The queries of a partition join ``app.queries`` with ``partition_key`` set: the key of
    the partitioned stream they read (a query on an inner stream takes the first key).
    """
    app = Parser(text).app()
    for part in app.partitions:
        for q in part.queries:
            key = next((k for s, k in part.keys if _reads(q, s)), part.keys[0][1])
            app.queries.append(replace(q, partition_key=key))
    app.queries.sort(key=lambda q: (q.line, q.column))
    return app


def _reads(q: Query, stream: str) -> bool:
    if isinstance(q.input, StreamInput):
        return q.input.stream == stream
    return any(e.stream == stream for e in q.input.elements)
