"""Bring a Siddhi app: a documented SiddhiQL subset compiled to loopml's rules and plan.

    from loopml.streaming.siddhiql import compile_siddhiql
    plan = compile_siddhiql('''
        define stream S (machine string, temp double, ts long);
        from S[temp > 95] select machine, temp insert into Hot;
    ''')
    out = plan.run_batches([("S", {"machine": ["m1"], "temp": [99.0], "ts": [0]})])

The subset, and how each construct maps to a rule, is the "SiddhiQL subset" table of
``docs/streaming.md``: filters, ``#window.time/externalTime`` (sliding, (t - W, t]),
``timeBatch/externalTimeBatch`` (tumbling, aligned to multiples of W), ``length/lengthBatch``
inside a partition, ``group by`` one key, ``having``, ``every e1=A -> e2=B[k == e1.k] within T``
(inclusive), strict sequences in a partition, ``every e1=A -> not A[k == e1.k] for T``,
``partition with (k of S)`` and ``output first every T``. Anything else is a :class:`SiddhiQLError` naming the construct, its line and column, and
nothing runs. The parser is hand-written recursive descent (no eval); SiddhiQL expressions are
re-rendered as loopml expressions, which loopml type-checks against the ``define stream``
schemas.

Siddhi's event timestamp (``@app:playback``) is an attribute in loopml: each input stream
needs a ``long`` attribute of milliseconds (``ts``, ``timestamp``, ``event_time`` or ``time``,
or the one named by ``event_time=``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from loopml._config import validate
from loopml.errors import InvalidConfig
from loopml.streaming._siddhiql_ast import App
from loopml.streaming._siddhiql_compile import compile_app
from loopml.streaming._siddhiql_lexer import SiddhiQLError
from loopml.streaming._siddhiql_parser import parse
from loopml.streaming.rules import RuleApp, parse_duration

if TYPE_CHECKING:
    from loopml.streaming.plan import Plan


def parse_siddhiql(text: str) -> App:
    """The syntax tree of a SiddhiQL app; raises :class:`SiddhiQLError` (line, column,
    construct) for a syntax error or a construct outside the subset."""
    return parse(text)


def siddhiql_to_rules(
    text: str,
    *,
    event_time: str | None = None,
    lateness: str | int = 0,
    keys: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The loopml rule dict (the YAML shape, validated by :class:`RuleApp`) of a SiddhiQL app.

    ``event_time``: the attribute of every input stream that holds the event time in ms;
    ``lateness``: bounded lateness (``"2s"``; Siddhi has none, so 0 by default);
    ``keys``: stream -> key attribute where the queries do not say it.
    Raises :class:`SiddhiQLError` (an ``InvalidConfig``) naming line, column and construct.
    """
    app = parse(text)
    lateness_ms = 0 if lateness in (0, "0", "0s", "0ms") else parse_duration(lateness)
    rules = compile_app(app, event_time=event_time, lateness_ms=lateness_ms, keys=dict(keys or {}))
    try:
        validate(RuleApp, rules, "siddhiql")
    except InvalidConfig as exc:  # a bug of the compiler, not of the app: say so
        raise InvalidConfig(f"the SiddhiQL compiler produced an invalid rule file: {exc}") from exc
    return rules


def compile_siddhiql(
    text: str,
    *,
    event_time: str | None = None,
    lateness: str | int = 0,
    keys: Mapping[str, str] | None = None,
    models: Mapping[str, Callable[..., Any]] | None = None,
    udfs: Mapping[str, Any] | None = None,
) -> Plan:
    """A runnable :class:`~loopml.streaming.Plan` from a SiddhiQL app (same plan as the rule
    YAML would give). Type errors found by loopml's rule compiler are reported against the
    query's line. Raises :class:`SiddhiQLError`."""
    from loopml.streaming.plan import compile_rules

    rules = siddhiql_to_rules(text, event_time=event_time, lateness=lateness, keys=keys)
    try:
        return compile_rules(rules, models=models, udfs=udfs)
    except InvalidConfig as exc:
        raise _at_query(text, rules, str(exc)) from exc


def _at_query(text: str, rules: dict[str, Any], message: str) -> SiddhiQLError:
    """Point a rule-compiler message at the line of the query it concerns."""
    app = parse(text)
    lines = {r["name"]: (q.line, q.column) for r, q in zip(rules["rules"], app.queries, strict=True)}
    m = re.search(r"rule '([^']+)'", message)
    line, col = lines.get(m.group(1), (1, 1)) if m else (1, 1)
    detail = message.split("\n", 1)[-1].strip() if "\n" in message else message
    return SiddhiQLError(f"query: {detail}", line, col, "query")


__all__ = ["SiddhiQLError", "compile_siddhiql", "parse_siddhiql", "siddhiql_to_rules"]
