"""lookup, predict, UDFs, sinks, the Python builder (same plan as YAML) and the driver."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

from loopml.streaming import App, MicroBatcher, col, compile_rules, register_udf, unregister_udf
from tests.streaming.conftest import SCHEMA, app, events, random_trace, split


def test_lookup_joins_a_table_by_key() -> None:
    limits = pa.table({"m": ["a", "b"], "limit": [10.0, 50.0]})
    spec = app({"name": "over", "from": "s", "lookup": {"table": "limits", "key": "m"}, "where": "v > limit",
                "select": ["m", "v", "limit"]})
    out = compile_rules(spec, tables={"limits": limits}).run_batches(
        [("s", events(("a", 20, 0, 1), ("b", 20, 0, 2), ("c", 99, 0, 3)))])["over"].to_pylist()
    assert out == [{"m": "a", "v": 20.0, "limit": 10.0, "_time": 1}]  # c: no row in the table -> NaN


def test_predict_calls_any_callable_on_the_batch() -> None:
    calls: list[int] = []

    def model(cols: dict[str, np.ndarray]) -> np.ndarray:
        calls.append(len(cols["v"]))
        return cols["v"] / 100.0

    spec = app({"name": "p", "from": "s", "predict": {"model": "bearing", "inputs": ["v"], "output": "p_fail"}},
               {"name": "alarm", "from": "p", "where": "p_fail >= 0.8", "count": {"at_least": 2, "within": "10s"}})
    out = compile_rules(spec, models={"bearing": model}).run_batches(
        [("s", events(("a", 90, 0, 0), ("a", 10, 0, 1), ("a", 85, 0, 2)))])
    assert calls == [3] and out["p"].column("p_fail").to_pylist() == [0.9, 0.1, 0.85]
    assert out["alarm"].column("_time").to_pylist() == [2]


def test_udf_registered_in_python() -> None:
    register_udf("c_to_f", lambda x: x * 9 / 5 + 32)
    try:
        out = compile_rules(app({"name": "f", "from": "s", "select": {"m": "m", "tf": "c_to_f(v)"}})).run_batches(
            [("s", events(("a", 100, 0, 0)))])
        assert out["f"].column("tf").to_pylist() == [212.0]
    finally:
        unregister_udf("c_to_f")


def test_emit_to_sinks_with_constants_and_payload() -> None:
    spec = app({"name": "hot", "from": "s", "where": "v > 90", "select": ["m", "v"],
                "emit": [{"to": "alerts", "severity": "critical"},
                         {"to": "plc", "fields": ["m"], "payload": {"cmd": "stop", "machine": "{m}", "why": "{rule}"}}]},
               sinks={"alerts": {"to": "memory"}, "plc": {"to": "mqtt://127.0.0.1:1883/cmd", "key": ["m", "_time"]}})
    out = compile_rules(spec).run_batches([("s", events(("a", 95, 0, 7)))])
    assert out["alerts"].to_pylist() == [{"m": "a", "v": 95.0, "_time": 7, "severity": "critical"}]
    row = out["plc"].to_pylist()[0]
    assert row["m"] == "a" and json.loads(row["payload"]) == {"cmd": "stop", "machine": "a", "why": "hot"}


def _builder_app() -> App:
    a = App("t", lateness="1s")
    s = a.source("s", key="m", event_time="ts", schema=dict(SCHEMA))
    s.where((col.v > 50) & (col.f == 1)).as_("hot")
    s.window(sliding="1s").select(n=col.count(), hi=col.v.max(), rms=(col.v * col.v).avg().sqrt()).as_("feat")
    s.where(col.f == 1).count(at_least=2, within="2s").suppress(per_key="1s").as_("burst")
    return a


def _yaml_app() -> dict[str, Any]:
    return app({"name": "hot", "as": "hot", "from": "s", "where": "((v > 50) and (f == 1))"},
               {"name": "feat", "as": "feat", "from": "s", "window": {"sliding": "1s"},
                "select": {"n": "count()", "hi": "max(v)", "rms": "sqrt(avg((v * v)))"}},
               {"name": "burst", "as": "burst", "from": "s", "where": "(f == 1)",
                "count": {"at_least": 2, "within": "2s"}, "suppress": {"per_key": "1s"}}, lateness="1s")


def test_builder_compiles_to_the_same_plan_as_yaml() -> None:
    b = _builder_app()
    assert b.to_dict()["rules"] == _yaml_app()["rules"]
    parts = split(random_trace(400, seed=2), 50)
    got = b.compile().run_batches(parts)
    ref = compile_rules(_yaml_app()).run_batches(parts)
    assert {k: v.to_pylist() for k, v in got.items()} == {k: v.to_pylist() for k, v in ref.items()}
    assert b.lint() == []


def test_builder_lint_lists_problems() -> None:
    a = App("t")
    s = a.source("s", key="m", event_time="ts", schema=dict(SCHEMA))
    s.where(col.temp > 1)
    assert any("unknown field 'temp'" in p for p in a.lint())


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_micro_batcher_is_per_event_when_sparse_and_batches_when_dense() -> None:
    plan = compile_rules(app({"name": "p", "from": "s"}))
    got: list[int] = []
    clock = _Clock()
    mb = MicroBatcher(plan, "s", lambda out: got.append(out["p"].num_rows), max_events=4, max_delay_ms=2, clock=clock)
    for i in range(3):  # 10 ms apart: each row flushes at once
        clock.t += 0.010
        mb.push({"m": "a", "v": 1.0, "f": 0, "ts": i})
    assert got == [1, 1, 1]
    for i in range(3, 12):  # 0.1 ms apart: batches of up to 4 rows
        clock.t += 0.0001
        mb.push({"m": "a", "v": 1.0, "f": 0, "ts": i})
    clock.t += 0.003
    mb.poll()
    assert got[3:] == [4, 4, 1] and sum(got) == 12


def test_a_failing_model_sends_its_rows_to_dead_letter() -> None:
    def broken(cols: dict[str, np.ndarray]) -> np.ndarray:
        raise RuntimeError("model server down")

    plan = compile_rules(app({"name": "p", "from": "s", "predict": {"model": "m", "inputs": ["v"]}},
                             {"name": "q", "from": "s", "where": "v > 0"}), models={"m": broken})
    out = plan.run_batches([("s", events(("a", 1, 0, 0), ("a", 2, 0, 1)))])
    assert out["dead_letter"].column("reason").to_pylist() == ["rule 'p' failed: RuntimeError: model server down"] * 2
    assert out["q"].num_rows == 2  # the other rules go on


def test_partition_by_overrides_the_source_key() -> None:
    spec = app({"name": "c", "from": "s", "partition_by": "f", "count": {"at_least": 2, "within": "1s"},
                "select": ["f", "n"]})
    out = compile_rules(spec).run_batches([("s", events(("a", 0, 1, 0), ("b", 0, 1, 1), ("c", 0, 0, 2)))])
    assert out["c"].to_pylist() == [{"f": 1, "n": 2, "_time": 1}]  # a and b share f == 1


def test_builder_patterns_lookup_predict_compile_and_explain() -> None:
    a = App("t")
    s = a.source("s", key="m", event_time="ts", schema=dict(SCHEMA))
    a.sink("alerts", "redis://127.0.0.1:6379/0?stream=alerts", key=["m", "_time"])
    s.followed_by(col.f == 1, col.v > 50, within="10s").as_("ab")
    s.absent(for_="30s", after=col.f == 1).emit("alerts", severity="warning").as_("quiet")
    s.lookup("limits", key="m").where(col.v > col.limit).predict("score", inputs=["v"], output="p").as_("scored")
    plan = a.compile(tables={"limits": pa.table({"m": ["a"], "limit": [1.0]})},
                     models={"score": lambda cols: cols["v"] * 0})
    text = plan.explain()
    for part in ("sequence(2 steps within 10000 ms", "absent(for 30000 ms by m)", "lookup(limits on m)",
                 "predict(score)", "=> ['alerts']"):
        assert part in text, text
    out = plan.run_batches([("s", events(("a", 5, 1, 0), ("a", 60, 0, 1)))])
    assert out["ab"].num_rows == 1 and out["scored"].column("p").to_pylist() == [0.0, 0.0]


def test_payload_templates_only_fill_plain_names() -> None:
    spec = app({"name": "hot", "from": "s", "emit": {"to": "plc", "payload": {
        "a": "{m} by {rule}", "b": "{m.__class__}", "c": "{nope}"}}}, sinks={"plc": {"to": "memory"}})
    out = compile_rules(spec).run_batches([("s", events(("a", 1, 0, 0)))])
    assert json.loads(out["plc"].column("payload")[0].as_py()) == {"a": "a by hot", "b": "{m.__class__}", "c": "{nope}"}
