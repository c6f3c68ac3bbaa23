"""The rule file: schema, expression whitelist and types, lint with lines, CLI exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from loopml.cli.main import app as cli
from loopml.errors import InvalidConfig
from loopml.streaming import ExprError, compile_expr, compile_rules, parse_duration
from tests.streaming.conftest import app

FIELDS = {"m": "str", "v": "float64", "ok": "bool"}

BAD = """\
app: bad
sources:
  s:
    key: m
    event_time: ts
    schema: {m: str, temp: float, ts: int64}
sinks:
  alerts: {to: "redis://127.0.0.1:6379/0?stream=alerts"}
rules:
  - name: a
    from: s
    where: m > 3
    emit: {to: alerts}
  - name: b
    from: nope
    window: {sliding: 0s}
    select: {x: avg(temp)}
  - name: c
    from: s
    window: {tumbling: 1s}
    select: {x: avg(tmp)}
  - name: d
    from: e
    as: d_out
  - name: e
    from: d_out
    as: e
"""


def test_durations() -> None:
    assert parse_duration("10s") == 10_000 and parse_duration("500ms") == 500
    assert parse_duration("2m") == 120_000 and parse_duration(250) == 250
    for bad in ("0s", "-1s", "10 parsecs", True, 0):
        with pytest.raises(ValueError):
            parse_duration(bad)


@pytest.mark.parametrize("text,why", [
    ("__import__('os').system('x')", "only plain function calls"),
    ("__import__('os')", "unknown function '__import__'"),
    ("(lambda: 1)()", "only plain function calls"),
    ("m.upper()", "only plain function calls"),
    ("[x for x in m]", "ListComp is not allowed"),
    ("m > 3", "type error: a string compared with a number"),
    ("v + m", "type error: arithmetic on a string"),
    ("v and ok", "needs true/false operands"),
    ("avg(v) > 1", "needs a window"),
    ("vv > 1", "did you mean 'v'"),
    ("v >", "syntax error"),
])
def test_expressions_outside_the_grammar_are_refused(text: str, why: str) -> None:
    with pytest.raises(ExprError, match=why.replace("(", r"\(")):
        compile_expr(text, FIELDS)


def test_expression_values() -> None:
    import numpy as np

    cols = {"m": np.array(["a", "b"], dtype=object), "v": np.array([1.0, np.nan]), "ok": np.array([True, False])}
    assert compile_expr("m in ('a', 'c') and not ok", FIELDS)(cols, 2).tolist() == [False, False]
    assert compile_expr("isnull(v) or 0 < v <= 1", FIELDS)(cols, 2).tolist() == [True, True]
    assert compile_expr("where(ok, sqrt(abs(v)) * 2, -1)", FIELDS)(cols, 2).tolist() == [2.0, -1.0]


def test_every_problem_is_listed_with_its_line(tmp_path: Path) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text(BAD)
    with pytest.raises(InvalidConfig) as e:
        compile_rules(f)
    msg = str(e.value)
    for expected in ("line 8: sinks.alerts: sink 'alerts' has no idempotence key",
                     "line 12: rules[0].where: rule 'a': in 'm > 3': type error",
                     "line 16: rules[1].window.sliding: a duration must be a positive",
                     "line 21: rules[2].select.x: rule 'c': in 'avg(tmp)': unknown field 'tmp'; did you mean 'temp'?",
                     "rules form a cycle"):
        assert expected in msg, msg


def test_cli_lint_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    r = CliRunner().invoke(cli, ["stream", "lint", str(bad)])
    assert r.exit_code == 2 and "line 12" in r.output
    syntax = tmp_path / "syntax.yaml"
    syntax.write_text("rules: [\n")
    r = CliRunner().invoke(cli, ["stream", "lint", str(syntax)])
    assert r.exit_code == 2 and "YAML syntax error" in r.output


def test_cli_explain_and_replay(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(app({"name": "hot", "from": "s", "where": "v > 1"})))
    data = tmp_path / "events.parquet"
    pq.write_table(pa.table({"m": ["a", "a"], "v": [1.0, 2.0], "f": [0, 0], "ts": [1, 2]}), data)
    r = CliRunner().invoke(cli, ["stream", "explain", str(rules)])
    assert r.exit_code == 0 and "rule hot: s -> filter(v > 1) -> hot" in r.output
    r = CliRunner().invoke(cli, ["stream", "replay", str(rules), "--data", str(data), "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "hot: 1 rows" in r.output and pq.read_table(tmp_path / "o" / "hot.parquet").num_rows == 1
    csv = tmp_path / "events.csv"
    csv.write_text("m,v,f,ts\na,1.0,0,1\na,2.5,0,2\nb,3.0,0,3\n")
    r = CliRunner().invoke(cli, ["stream", "replay", str(rules), "--data", str(csv)])
    assert r.exit_code == 0 and "hot: 2 rows" in r.output, r.output
    r = CliRunner().invoke(cli, ["stream", "replay", str(rules), "--data", str(csv), "--source", "nope"])
    assert r.exit_code == 2 and "not a source" in r.output
    # --out is a folder: an existing file is bad input, found before any work.
    r = CliRunner().invoke(cli, ["stream", "replay", str(rules), "--data", str(csv), "--out", str(data)])
    assert r.exit_code == 2 and "is a file" in r.output, r.output


@pytest.mark.parametrize("rule,why", [
    ({"name": "x", "from": "s", "window": {"sliding": "1s", "tumbling": "1s"}, "select": {"n": "count()"}},
     "exactly one of sliding, tumbling or count"),
    ({"name": "x", "from": "s", "window": {"sliding": "-5s"}, "select": {"n": "count()"}}, "positive"),
    ({"name": "x", "from": "s", "window": {"sliding": "1s"}}, "needs a select"),
    ({"name": "x", "from": "s", "count": {"at_least": 2, "within": "1s"}, "absent": {"for": "1s"}}, "at most one"),
    ({"name": "x", "from": "s", "wher": "v > 1"}, "unknown key 'wher'"),
    ({"name": "x", "from": "s", "emit": {"to": "nowhere"}}, "unknown sink 'nowhere'"),
    ({"name": "x", "from": "s", "predict": {"model": "m1", "inputs": ["v"]}}, "no model registered"),
    ({"name": "s", "from": "s", "as": "s"}, "writes to the source"),
])
def test_bad_rules(rule: dict, why: str) -> None:
    with pytest.raises(InvalidConfig, match=why):
        compile_rules(app(rule))


def test_pattern_without_key_is_unbounded() -> None:
    spec = app({"name": "g", "from": "s", "absent": {"for": "1s"}})
    del spec["sources"]["s"]["key"]
    with pytest.raises(InvalidConfig, match="without a key"):
        compile_rules(spec)


def test_cli_lint_refuses_a_binary_file_as_bad_input(tmp_path: Path) -> None:
    binary = tmp_path / "rules.yaml"
    binary.write_bytes(b"\x00\xff\xfe")
    r = CliRunner().invoke(cli, ["stream", "lint", str(binary)])
    assert r.exit_code == 2, r.output
    assert "cannot read it" in r.output and "unexpected" not in r.output


def test_a_rule_name_used_twice_is_a_problem(tmp_path: Path) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text("""version: 1
app: x
sources:
  s: {key: k, event_time: ts, schema: {k: str, v: float64, ts: int64}}
rules:
  - {name: a, from: s, where: v > 1}
  - {name: a, from: s, where: v < 0}
""")
    r = CliRunner().invoke(cli, ["stream", "lint", str(f)])
    assert r.exit_code == 2, r.output
    assert "used twice" in r.output


def test_rules_writing_one_stream_must_agree_on_its_columns(tmp_path: Path) -> None:
    head = """version: 1
app: x
sources:
  s: {key: k, event_time: ts, schema: {k: str, v: float64, w: float64, ts: int64}}
rules:
"""
    f = tmp_path / "rules.yaml"
    f.write_text(head + """  - {name: a, from: s, where: v > 1, select: [k, v], as: o}
  - {name: b, from: s, where: v < 0, select: [k, w], as: o}
""")
    r = CliRunner().invoke(cli, ["stream", "lint", str(f)])
    assert r.exit_code == 2 and "writes stream 'o'" in r.output, r.output


def test_a_reader_runs_after_every_writer_of_its_stream() -> None:
    from loopml.streaming import compile_rules

    spec = {"version": 1, "app": "x",
            "sources": {"s": {"key": "k", "event_time": "ts",
                              "schema": {"k": "str", "v": "float64", "ts": "int64"}}},
            "rules": [{"name": "r", "from": "o", "where": "v != 0"},  # listed before the writers
                      {"name": "a", "from": "s", "where": "v > 1", "as": "o"},
                      {"name": "b", "from": "s", "where": "v < 0", "as": "o"}]}
    plan = compile_rules(spec)
    out = plan.run_batches([("s", {"k": ["p", "q"], "v": [5.0, -5.0], "ts": [1, 2]})])
    assert sorted(out["r"].column("v").to_pylist()) == [-5.0, 5.0]
