"""Event time (lateness, watermark, late stream), dead letters, snapshot/restore."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from loopml.streaming import compile_rules
from tests.streaming.conftest import app, events, random_trace, split


def test_out_of_order_within_lateness_is_accepted_and_older_goes_to_late() -> None:
    spec = app({"name": "w", "from": "s", "window": {"sliding": "10s"}, "select": {"n": "count()"}}, lateness="2s")
    plan = compile_rules(spec)
    out = plan.run_batches([("s", events(("a", 1, 0, 5000), ("a", 1, 0, 3000), ("a", 1, 0, 2999)))])
    # watermark 5000 - 2000 = 3000: 3000 is on time (not older), 2999 is late
    assert out["late"].to_pylist() == [{"stream": "s", "_time": 2999, "event": json.dumps(
        {"m": "a", "v": 1.0, "f": 0, "ts": 2999})}]
    # within a batch rows are taken in event-time order: 3000 first
    assert [(r["_time"], r["n"]) for r in out["w"].to_pylist()] == [(3000, 1), (5000, 2)]


def test_late_relative_to_previous_batches() -> None:
    plan = compile_rules(app({"name": "p", "from": "s"}, lateness="1s"))
    plan.run_batches([("s", events(("a", 1, 0, 10_000)))])
    out = plan.run_batches([("s", events(("a", 1, 0, 9000), ("a", 1, 0, 8999)))])
    assert out["p"].column("_time").to_pylist() == [9000]
    assert out["late"].column("_time").to_pylist() == [8999]


def test_dead_letters_never_crash() -> None:
    plan = compile_rules(app({"name": "p", "from": "s", "where": "v > 0"}))
    out = plan.run_batches([("s", [
        {"m": "a", "v": 1.0, "f": 0, "ts": 1},
        {"m": "a", "f": 0, "ts": 2},                       # missing field
        {"m": "a", "v": "hot", "f": 0, "ts": 3},           # wrong type
        {"m": 7, "v": 1.0, "f": 0, "ts": 4},               # wrong type (str expected)
        {"m": "a", "v": 1.0, "f": 0, "ts": float("nan")},  # NaN event time
        {"m": "a", "v": 1.0, "f": 0, "ts": None},          # missing event time
    ]), ("s", pa.table({"m": ["a"], "v": [2.0], "ts": [5]}))])  # a whole batch without a column
    reasons = out["dead_letter"].column("reason").to_pylist()
    assert reasons == ["missing field 'v'", "field 'v': expected a number", "field 'm': expected a string",
                       "event time 'ts' is missing, NaN or out of range", "missing field 'ts'", "missing field 'f'"]
    assert out["p"].column("_time").to_pylist() == [1]


def test_arrow_timestamps_are_milliseconds() -> None:
    spec = app({"name": "p", "from": "s"})
    spec["sources"]["s"]["schema"]["ts"] = "timestamp[ms]"
    t = pa.table({"m": ["a"], "v": [1.0], "f": [0], "ts": pa.array([1500], pa.timestamp("ms"))})
    assert compile_rules(spec).run_batches([("s", t)])["p"].column("_time").to_pylist() == [1500]


def _rules() -> dict:
    return app({"name": "w", "from": "s", "window": {"sliding": "2s"}, "select": {"n": "count()", "s": "sum(v)"}},
               {"name": "t", "from": "s", "window": {"tumbling": "1s"}, "select": {"n": "count()"}},
               {"name": "c", "from": "s", "where": "f == 1", "count": {"at_least": 2, "within": "3s"},
                "suppress": {"per_key": "1s"}},
               {"name": "q", "from": "s", "sequence": {"steps": [{"where": "f == 1"}, {"where": "v > 50"}],
                                                       "within": "2s"}},
               {"name": "g", "from": "s", "absent": {"for": "1500ms"}},
               {"name": "k", "from": "s", "window": {"count": 3}, "select": {"hi": "max(v)"}}, lateness="500ms")


def test_snapshot_restore_continues_exactly() -> None:
    cols = random_trace(800, seed=5)
    parts = split(cols, 37)
    whole = compile_rules(_rules()).run_batches(parts)
    first = compile_rules(_rules())
    a = first.run_batches(parts[:10])
    snap = first.snapshot()
    assert isinstance(snap, bytes)
    second = compile_rules(_rules())
    second.restore(snap)
    b = second.run_batches(parts[10:])
    for name, table in whole.items():
        joined = [*(a[name].to_pylist() if name in a else []), *(b[name].to_pylist() if name in b else [])]
        assert joined == table.to_pylist(), name


def test_state_is_bounded_by_window_plus_lateness() -> None:
    plan = compile_rules(app({"name": "w", "from": "s", "window": {"sliding": "1s"}, "select": {"n": "count()"}},
                             lateness="1s"))
    ts = np.arange(0, 100_000, 10, dtype=np.int64)
    n = len(ts)
    plan.run_batches(split({"m": np.array(["a"] * n, dtype=object), "v": np.ones(n), "f": np.zeros(n, np.int64),
                            "ts": ts}, 512))
    retained = len(plan.rules[0].op.state.key)
    assert retained <= (1000 + 1000) // 10 + 1


def test_state_of_a_silent_key_is_swept_with_per_event_batches() -> None:
    plan = compile_rules(app({"name": "w", "from": "s", "window": {"sliding": "1s"}, "select": {"n": "count()"}}))
    plan.run_batches([("s", events(("a", 1, 0, t))) for t in range(0, 500, 10)])   # a goes silent
    plan.run_batches([("s", events(("b", 1, 0, t))) for t in range(500, 5000, 10)])
    state = plan.rules[0].op.state
    assert set(state.key.tolist()) == {1} and len(state.key) <= 101  # only b, within (t - 1 s, t]


def test_snapshot_with_a_two_column_group_by() -> None:
    spec = app({"name": "g", "from": "s", "group_by": ["m", "f"], "window": {"tumbling": "1s"},
                "select": {"n": "count()"}})
    first = compile_rules(spec)
    first.run_batches([("s", events(("a", 1, 0, 0), ("a", 1, 1, 1)))])
    second = compile_rules(spec)
    second.restore(first.snapshot())
    out = second.run_batches([("s", events(("a", 1, 0, 2), ("a", 1, 0, 1000)))])["g"].to_pylist()
    assert sorted((r["m"], r["f"], r["n"]) for r in out) == [("a", 0, 2), ("a", 1, 1)]


def test_random_garbage_never_crashes_the_engine() -> None:
    rng = np.random.default_rng(7)
    junk = [None, "x", 1, 2.5, float("nan"), True, [1], {"a": 1}, -1e300, "", 10**30]
    plan = compile_rules(_rules())
    produced = 0
    for i in range(40):
        rows = []
        for j in range(int(rng.integers(0, 20))):
            row = {"m": f"k{j % 3}", "v": float(j), "f": j % 2, "ts": 1000 * i + j}
            for k in list(row):
                if rng.random() < 0.15:
                    row[k] = junk[int(rng.integers(0, len(junk)))]
                if rng.random() < 0.05:
                    del row[k]
            rows.append(row)
        out = plan.run_batches([("s", rows)])
        produced += sum(t.num_rows for t in out.values())
    assert produced > 0
