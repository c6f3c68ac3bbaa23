"""Parser for MLflow's search filter grammar, extended with OR and parentheses.

    expr    := and_expr ("OR" and_expr)*
    and_expr:= atom ("AND" atom)*
    atom    := "(" expr ")" | ident op value | ident "IS" ["NOT"] "NULL"
             | ident ["NOT"] "IN" "(" value ("," value)* ")"
    ident   := [prefix "."] key      prefix: metrics | params | tags | attributes | datasets
    key     := word ("." word)* | `quoted` | "quoted"

The parser knows nothing about tables; ``_search`` compiles the AST to SQL and
``evaluate_run`` interprets it in plain Python (the reference for differential tests).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from loopml.errors import InvalidParameterValue

PREFIXES = {
    "metric": "metrics", "metrics": "metrics",
    "param": "params", "params": "params", "parameter": "params", "parameters": "params",
    "tag": "tags", "tags": "tags",
    "attribute": "attributes", "attributes": "attributes", "attr": "attributes",
    "run": "attributes",
    "dataset": "datasets", "datasets": "datasets",
}
NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
STRING_OPS = ("=", "!=", "LIKE", "ILIKE")
EXAMPLE = "metrics.accuracy > 0.9 AND (params.model = 'rf' OR tags.team LIKE 'ml-%')"
# Bounds that keep parsing, SQL compilation and evaluation (all recursive) far from Python's
# recursion limit and a filter's cost bounded: a deeper or longer filter is a 400, not a 500.
MAX_DEPTH = 50  # nested parentheses
MAX_TERMS = 500  # comparisons (an IN list counts once); SQLite parses at most ~990

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![\w.])
    | (?P<str>'[^']*'|"[^"]*")
    | (?P<bq>`[^`]*`)
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),.])
    | (?P<word>[A-Za-z_][\w\-/:]*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Ident:
    kind: str  # metrics | params | tags | attributes | datasets
    key: str


@dataclass(frozen=True)
class Compare:
    ident: Ident
    op: str  # = != < <= > >= LIKE ILIKE IN NOT IN IS NULL IS NOT NULL
    value: float | str | tuple[str, ...] | None


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


Expr = Compare | And | Or


def _error(filter_string: str, problem: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Invalid filter {filter_string!r}: {problem}. Example of a valid filter: {EXAMPLE}"
    )


def tokenize(s: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    s = s.rstrip()
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if not m or m.end() == pos:
            raise _error(s, f"unexpected text at position {pos}: {s[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, s: str, default_kind: str) -> None:
        self.s = s
        self.toks = tokenize(s)
        self.i = 0
        self.default_kind = default_kind
        self.depth = 0
        self.terms = 0

    def peek(self, k: int = 0) -> tuple[str, str] | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def next(self, what: str) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise _error(self.s, f"the filter ends where {what} was expected")
        self.i += 1
        return tok

    def kw(self, word: str) -> bool:
        tok = self.peek()
        if tok and tok[0] == "word" and tok[1].upper() == word:
            self.i += 1
            return True
        return False

    def parse(self) -> Expr:
        e = self.expr()
        if self.peek() is not None:
            raise _error(self.s, f"unexpected {self.peek()[1]!r} after a complete condition "  # type: ignore[index]
                         "(join conditions with AND or OR)")
        return e

    def expr(self) -> Expr:
        items = [self.and_expr()]
        while self.kw("OR"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Expr:
        items = [self.atom()]
        while self.kw("AND"):
            items.append(self.atom())
        return items[0] if len(items) == 1 else And(tuple(items))

    def atom(self) -> Expr:
        tok = self.peek()
        if tok == ("punct", "("):
            self.i += 1
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise _error(self.s[:200], f"parentheses nest deeper than the limit of "
                             f"{MAX_DEPTH} levels")
            e = self.expr()
            if self.next("')'") != ("punct", ")"):
                raise _error(self.s, "a '(' is not closed")
            self.depth -= 1
            return e
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise _error(self.s[:200], f"it has more than the limit of {MAX_TERMS} comparisons; "
                         "split the search or use IN (...) lists")
        ident = self.ident()
        return self.comparison(ident)

    def ident(self) -> Ident:
        kind, text = self.next("an identifier such as metrics.accuracy")
        if kind == "bq":
            return Ident(self.default_kind, text[1:-1])
        if kind != "word":
            raise _error(self.s, f"expected an identifier such as metrics.accuracy, got {text!r}")
        if self.peek() == ("punct", ".") and text.lower() in PREFIXES:
            self.i += 1
            prefix = PREFIXES[text.lower()]
            k2, t2 = self.next("a key after the prefix")
            if k2 in ("str", "bq"):
                return Ident(prefix, t2[1:-1])
            if k2 != "word":
                raise _error(self.s, f"expected a key after '{text}.', got {t2!r}")
            key = t2
            while self.peek() == ("punct", ".") and self.peek(1) and self.peek(1)[0] == "word":  # type: ignore[index]
                self.i += 1
                key += "." + self.next("a key")[1]
            return Ident(prefix, key)
        if self.peek() == ("punct", "."):
            raise _error(
                self.s,
                f"unknown prefix {text!r}; use metrics., params., tags., attributes. or datasets.",
            )
        return Ident("attributes", text)

    def value(self) -> float | str:
        kind, text = self.next("a value")
        if kind == "num":
            return float(text)
        if kind == "str":
            return text[1:-1]
        raise _error(self.s, f"expected a number or a quoted string, got {text!r}")

    def comparison(self, ident: Ident) -> Compare:
        if self.kw("IS"):
            neg = self.kw("NOT")
            if not self.kw("NULL"):
                raise _error(self.s, "expected NULL after IS")
            return Compare(ident, "IS NOT NULL" if neg else "IS NULL", None)
        neg = self.kw("NOT")
        if self.kw("IN"):
            if self.next("'('") != ("punct", "("):
                raise _error(self.s, "IN needs a parenthesised list, e.g. IN ('a', 'b')")
            vals: list[str] = []
            while True:
                v = self.value()
                if not isinstance(v, str):
                    raise _error(self.s, "IN lists hold quoted strings")
                vals.append(v)
                sep = self.next("',' or ')'")
                if sep == ("punct", ")"):
                    break
                if sep != ("punct", ","):
                    raise _error(self.s, f"expected ',' or ')' in an IN list, got {sep[1]!r}")
            return Compare(ident, "NOT IN" if neg else "IN", tuple(vals))
        if neg:
            raise _error(self.s, "NOT is only allowed in NOT IN and IS NOT NULL")
        kind, text = self.next("a comparator")
        if kind == "op":
            op = "!=" if text == "<>" else text
        elif kind == "word" and text.upper() in ("LIKE", "ILIKE"):
            op = text.upper()
        else:
            raise _error(self.s, f"expected a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN), got {text!r}")
        return Compare(ident, op, self.value())


def parse_filter(filter_string: str | None, default_kind: str = "attributes") -> Expr | None:
    if filter_string is None or not filter_string.strip():
        return None
    return _Parser(filter_string, default_kind).parse()


@dataclass(frozen=True)
class OrderKey:
    ident: Ident
    ascending: bool


def parse_order_by(order_by: str) -> OrderKey:
    parts = order_by.strip().rsplit(None, 1)
    ascending = True
    expr = order_by.strip()
    if len(parts) == 2 and parts[1].upper() in ("ASC", "DESC"):
        expr, ascending = parts[0], parts[1].upper() == "ASC"
    p = _Parser(expr, "attributes")
    ident = p.ident()
    if p.peek() is not None:
        raise InvalidParameterValue(
            f"Invalid order_by clause {order_by!r}. Use '<identifier> [ASC|DESC]', e.g. "
            "'metrics.accuracy DESC'."
        )
    return OrderKey(ident, ascending)
