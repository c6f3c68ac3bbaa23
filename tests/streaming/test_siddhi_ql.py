"""SiddhiQL subset -> loopml rules: the mapping, a runnable plan, and every refusal naming the
line, column and construct (nothing runs)."""

from __future__ import annotations

import numpy as np
import pytest

from loopml.errors import InvalidConfig
from loopml.streaming.siddhiql import (
    SiddhiQLError,
    compile_siddhiql,
    parse_siddhiql,
    siddhiql_to_rules,
)

DEFINE = "define stream S (machine string, temp double, fail int, ts long);\n"


def rules_of(query: str) -> list[dict]:
    return siddhiql_to_rules(DEFINE + query)["rules"]


def test_app_name_sources_and_keys() -> None:
    r = siddhiql_to_rules("@app:name('line3')\n" + DEFINE +
                          "partition with (machine of S) begin from S select machine insert into O; end;")
    assert r["app"] == "line3"
    assert r["sources"]["S"] == {"event_time": "ts", "key": "machine", "schema": {
        "machine": "str", "temp": "double", "fail": "int", "ts": "long"}}


def test_filter_select_and_expressions() -> None:
    (rule,) = rules_of("@info(name='hot') from S[temp > 95.5 and not (machine == 'm1') or fail != 0]"
                       "[temp is null == false] select machine, temp * 2 as t2, "
                       "math:sqrt(temp) as r insert into Hot;")
    assert rule == {"name": "hot", "from": "S", "as": "Hot",
                    "where": "(((temp > 95.5) and (not (machine == 'm1'))) or (fail != 0)) and "
                             "((temp is None) == False)".join(["(", ")"]),
                    "select": {"machine": "machine", "t2": "(temp * 2)", "r": "sqrt(temp)"}}


def test_windows_map_to_sliding_tumbling_and_count() -> None:
    sliding, = rules_of("from S#window.time(1 min 30 sec) select machine, avg(temp) as a, "
                        "stdDev(temp) as sd, count() as n group by machine having n > 2 insert into W;")
    assert sliding["window"] == {"sliding": 90_000}
    assert sliding["select"] == {"machine": "machine", "a": "avg(temp)", "sd": "std(temp)", "n": "count()"}
    assert sliding["group_by"] == ["machine"] and sliding["having"] == "(n > 2)"
    ext, = rules_of("from S#window.externalTimeBatch(ts, 500 millisec, 0) select machine, "
                    "max(temp) as m group by machine insert into T;")
    assert ext["window"] == {"tumbling": 500}
    length, batch = rules_of("partition with (machine of S) begin "
                             "from S#window.length(5) select machine, sum(temp) as s insert into L;"
                             "from S#window.lengthBatch(4) select machine, min(temp) as s insert into B; end;")
    assert length["window"] == {"count": 5} and length["partition_by"] == "machine"
    assert batch["window"] == {"count": 4, "every": 4}


def test_patterns_map_to_sequence_and_absent() -> None:
    seq, strict, absent, suppressed = rules_of(
        "from every e1=S[fail == 1] -> e2=S[machine == e1.machine and temp > 90] within 10 sec "
        "select e1.machine as machine, e2.temp as temp insert into AB;\n"
        "partition with (machine of S) begin from every a=S[temp > 1], b=S[temp > 2] within 2 sec "
        "select a.ts as t1, b.ts as t2 insert into Seq; end;\n"
        "from every e1=S[fail == 1] -> not S[machine == e1.machine and fail == 0] for 30 sec "
        "select e1.machine as machine insert into Silent;\n"
        "partition with (machine of S) begin from S[temp > 100] select machine, temp "
        "output first every 1 min insert into Alerts; end;")
    assert seq["partition_by"] == "machine"
    assert seq["sequence"] == {"steps": [{"as": "e1", "where": "(fail == 1)"},
                                         {"as": "e2", "where": "(temp > 90)"}],
                               "within": 10_000, "strict": False, "every": True}
    assert seq["select"] == {"machine": "e1.machine", "temp": "e2.temp"}
    assert strict["sequence"]["strict"] is True and strict["partition_by"] == "machine"
    assert absent["absent"] == {"for": 30_000, "after": "(fail == 1)", "cancel": "(fail == 0)"}
    assert absent["select"] == {"machine": "machine"}
    assert suppressed["suppress"] == {"per_key": 60_000}


def test_compiled_plan_runs() -> None:
    plan = compile_siddhiql(DEFINE + "from S[temp > 100] select machine, temp insert into Hot;")
    out = plan.run_batches([("S", {"machine": np.array(["a", "b"], dtype=object),
                                   "temp": np.array([101.0, 99.0]), "fail": np.array([0, 0]),
                                   "ts": np.array([5, 6])})])
    assert out["Hot"].to_pylist() == [{"machine": "a", "temp": 101.0, "_time": 5}]


def test_comments_keywords_as_names_and_quotes() -> None:
    app = parse_siddhiql("-- a comment\n/* block */ define stream `Raw` (min double, `from` string, ts long);\n"
                         'from Raw[`from` == "x"] select min insert into O; // trailing\n')
    assert list(app.streams) == ["Raw"] and app.streams["Raw"].attributes[1] == ("from", "string")


@pytest.mark.parametrize(("text", "line", "column", "construct"), [
    ("from S[temp > ] select temp insert into O;", 2, 15, "syntax"),
    ("from S[temp > 1] select temp insert O;", 2, 37, "syntax"),
    ("from S select temp $ insert into O;", 2, 20, "lexer"),
    ("define table T (a int);", 2, 8, "define table"),
    ("from S#window.time(1 sec) join S#window.length(2) on S.a == S.a select a insert into O;", 2, 27, "join"),
    ("from S#window.sort(2, temp) select machine, count() as n group by machine insert into O;", 2, 7, "#window.sort"),
    ("from S#window.length(5) select machine, count() as n group by machine insert into O;", 2, 7, "#window.length outside a partition"),
    ("from S#window.time(1 sec) select count() as n insert into O;", 2, 7, "#window.time without a key"),
    ("from S#window.time(0 sec) select machine, count() as n group by machine insert into O;", 2, 20, "window"),
    ("from S select machine, avg(temp) as a insert into O;", 2, 24, "aggregate avg() outside a windowed query"),
    ("from S[temp > 1] select machine insert expired events into O;", 2, 40, "insert expired events"),
    ("from S[temp > 1] select machine output last every 5 sec insert into O;", 2, 33, "output last every <time>"),
    ("from every e1=S[fail == 1] -> e2=S[machine == e1.machine] select e1.ts as t insert into O;", 2, 6, "a pattern without 'within'"),
    ("from every e1=S -> e2=S[fail == 1] within 1 sec select e1.ts as t insert into O;", 2, 20, "a pattern element without a key equality"),
    ("partition with (machine of S) begin from every e1=S[fail == 1]<3:> within 10 sec "
     "select e1.machine as m insert into O; end;", 2, 42, "counting pattern <3:>"),
    ("from every e1=S[fail==1] -> e2=S[machine == e1.machine and temp > e1.temp] within 1 sec "
     "select e1.ts as t insert into O;", 2, 67, "a reference to e1.temp in a step filter"),
    ("from e1=S and e2=S select e1.ts as t insert into O;", 2, 11, "logical pattern"),
    ("from S[temp > 1] select machine order by machine insert into O;", 2, 33, "order by"),
    ("from S[temp in T] select machine insert into O;", 2, 8, "'in T' (table lookup)"),
    ("from S[str:len(machine) > 1] select machine insert into O;", 2, 8, "function str:len()"),
    ("from Nope[temp > 1] select temp insert into O;", 2, 6, "stream reference"),
    ("partition with (temp < 50 as 'low') begin from S select temp insert into O; end;", 2, 17, "range partition"),
])
def test_out_of_subset_and_syntax_errors_name_line_column_and_construct(
        text: str, line: int, column: int, construct: str) -> None:
    with pytest.raises(SiddhiQLError) as info:
        compile_siddhiql(DEFINE + text)
    err = info.value
    assert (err.line, err.column, err.construct) == (line, column, construct), str(err)
    assert str(err).startswith(f"line {line}, column {column}: ")
    assert isinstance(err, InvalidConfig)  # -> HTTP 400 / CLI exit 2 like every bad config


@pytest.mark.parametrize(("query", "fragment"), [
    ("from S[machine > 5] select machine insert into O;", "machine"),
    ("from S[tmp > 5] select machine insert into O;", "tmp"),
    ("from S select machine, nosuch as x insert into O;", "nosuch"),
])
def test_type_errors_and_unknown_fields_point_at_the_query(query: str, fragment: str) -> None:
    with pytest.raises(SiddhiQLError) as info:
        compile_siddhiql(DEFINE + "\n" + query)
    assert info.value.line == 3 and info.value.construct == "query"
    assert fragment in str(info.value)


def test_stream_without_event_time_is_refused() -> None:
    with pytest.raises(SiddhiQLError, match="no event-time attribute") as info:
        siddhiql_to_rules("define stream S (machine string, temp double);\n"
                          "from S select machine insert into O;")
    assert (info.value.line, info.value.column) == (1, 1)
    rules = siddhiql_to_rules("define stream S (machine string, at long);\nfrom S select machine insert into O;",
                              event_time="at")
    assert rules["sources"]["S"]["event_time"] == "at"
