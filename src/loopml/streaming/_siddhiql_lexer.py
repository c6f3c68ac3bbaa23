"""Tokens of SiddhiQL (the subset in :mod:`loopml.streaming.siddhiql`), with line and column.

Follows the lexical rules of Siddhi 5.x's ANTLR grammar (``SiddhiQL.g4``, siddhi-query-compiler
5.1.7): keywords are case-insensitive; identifiers are letters, digits and ``_`` (a leading
``#`` marks an inner stream of a partition; back-quoted names are identifiers too); strings
use single, double or triple-double quotes; numbers take the suffixes ``L`` (long), ``F``
(float) and ``D`` (double); comments are ``-- ...``, ``// ...`` and ``/* ... */``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from loopml.errors import InvalidConfig


class SiddhiQLError(InvalidConfig):
    """A SiddhiQL app that loopml cannot run: a syntax error, or a construct outside the
    supported subset. ``line`` and ``column`` are 1-based; ``construct`` names what failed."""

    def __init__(self, message: str, line: int, column: int, construct: str) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.line, self.column, self.construct = line, column, construct


@dataclass(frozen=True)
class Token:
    """``kind``: NAME, KEYWORD (lower-cased ``text``), STRING (unquoted ``text``), INT,
    FLOAT, OP or EOF."""

    kind: str
    text: str
    line: int
    column: int
    suffix: str = ""  # numeric literal suffix, lower-cased: l, f, d
    raw: str = ""  # the source spelling of a keyword (``text`` is lower-cased)


KEYWORDS = frozenset("""
define stream table window trigger function aggregation from select as insert into delete
update set return events current expired all output every first last snapshot within for
not and or in is null partition with of begin end group by having order asc desc limit offset
join left right full outer inner on unidirectional true false sec second seconds min minute
minutes millisec millisecond milliseconds hour hours day days week weeks month months year
years string int long float double bool object raw
""".split())  # noqa: SIM905

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>--[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<string>\"\"\"(?:.|\n)*?\"\"\"|'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?[lLfFdD]?(?![A-Za-z_]))
  | (?P<name>\#?[A-Za-z_][A-Za-z0-9_]*|`[^`\n]+`)
  | (?P<op>->|==|!=|<=|>=|[-+*/%<>=()\[\]{},;:.@#!?])
""", re.VERBOSE | re.DOTALL)


def tokenize(text: str) -> list[Token]:
    """All tokens of ``text`` then EOF; raises SiddhiQLError at the first bad character."""
    tokens: list[Token] = []
    pos, line, line_start = 0, 1, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        col = pos - line_start + 1
        if m is None:
            raise SiddhiQLError(f"unexpected character {text[pos]!r}", line, col, "lexer")
        kind, value = m.lastgroup or "", m.group()
        if kind == "string" and value.startswith("'''"):
            raise SiddhiQLError("unexpected character \"'\"", line, col, "lexer")
        tok = _token(kind, value, line, col)
        if tok is not None:
            tokens.append(tok)
        newlines = value.count("\n")
        if newlines:
            line += newlines
            line_start = pos + value.rfind("\n") + 1
        pos = m.end()
    tokens.append(Token("EOF", "", line, pos - line_start + 1))
    return tokens


def _token(kind: str, value: str, line: int, col: int) -> Token | None:
    if kind in ("ws", "comment"):
        return None
    if kind == "string":
        body = value[3:-3] if value.startswith('"""') else value[1:-1]
        return Token("STRING", _unescape(body), line, col)
    if kind == "number":
        suffix = value[-1].lower() if value[-1] in "lLfFdD" else ""
        digits = value[:-1] if suffix else value
        is_float = suffix in ("f", "d") or any(c in digits for c in ".eE")
        return Token("FLOAT" if is_float else "INT", digits, line, col, suffix)
    if kind == "name":
        if value.startswith("`"):
            return Token("NAME", value[1:-1], line, col)
        if value.lower() in KEYWORDS:
            return Token("KEYWORD", value.lower(), line, col, raw=value)
        return Token("NAME", value, line, col)
    return Token("OP", value, line, col)


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)
