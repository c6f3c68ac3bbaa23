"""The per-event fast path (Plan.push of one row dict, loopml.streaming.scalar) gives the
same outputs, dead letters and state as the batch path, alone or interleaved with batches."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from loopml.streaming import MicroBatcher, compile_rules
from loopml.streaming.expr import compile_expr

from .conftest import app

RULES: dict[str, dict[str, Any]] = {
    "filter": {"name": "hot", "from": "s", "where": "v > 50 and m != 'k1' or v in (3, 4)",
               "select": {"m": "m", "v2": "v * 2", "r": "v / f", "q": "v // f", "h": "where(f == 1, 'y', 'n')",
                          "z": "abs(v - 50) ** 0.5", "c": "7"}},
    "row_having": {"name": "rh", "from": "s", "having": "v < 90 and not (f == 1)"},
    "sliding": {"name": "w", "from": "s", "window": {"sliding": "1s"},
                "select": {"n": "count()", "s": "sum(v)", "a": "avg(v)", "hi": "max(v)", "lo": "min(v)",
                           "fst": "first(v)", "lst": "last(m)", "d": "distinctCount(f)", "x": "max(v) - min(v)"}},
    "sliding_global": {"name": "wg", "from": "s", "where": "f == 0", "group_by": [], "window": {"sliding": "500ms"},
                       "select": {"n": "count()", "hi": "max(v * 2)"}, "having": "n >= 2"},
    "sliding_2keys": {"name": "w2", "from": "s", "group_by": ["m", "f"], "window": {"sliding": "1s"},
                      "select": {"n": "count()", "s": "sum(v)"}},
    "tumbling": {"name": "tb", "from": "s", "window": {"tumbling": "1s"}, "select": {"n": "count()", "a": "avg(v)"}},
    "hopping": {"name": "hp", "from": "s", "window": {"sliding": "2s", "every": "1s"}, "select": {"n": "count()"}},
    "count_window": {"name": "cw", "from": "s", "window": {"count": 3}, "select": {"s": "sum(v)"}},
    "count": {"name": "c", "from": "s", "where": "f == 1", "count": {"at_least": 2, "within": "1s"},
              "select": ["m", "ts", "n"]},
    "count_suppress": {"name": "cs", "from": "s", "where": "f == 1", "count": {"at_least": 2, "within": "2s"},
                       "suppress": {"per_key": "1s"}},
    "sequence": {"name": "ab", "from": "s", "sequence": {"steps": [{"where": "f == 1"}, {"where": "v > e1.v"}],
                                                          "within": "1s"}},
    "absent": {"name": "gone", "from": "s", "absent": {"for": "700ms", "after": "f == 1"}},
    "suppress": {"name": "sp", "from": "s", "where": "v > 30", "suppress": {"per_key": "700ms"},
                 "emit": [{"to": "alerts", "severity": "high", "payload": {"text": "{m} at {v}"}}]},
}


def _rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Rows with ties, exact-boundary gaps, some disorder (late rows) and bad rows."""
    rng = np.random.default_rng(seed)
    gaps = rng.choice([0, 0, 1, 250, 500, 999, 1000, 1001, 300], n)
    ts = 10_000 + np.cumsum(gaps) + rng.choice([0, 0, 0, -400, -2500], n)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        rows.append({"m": f"k{rng.integers(0, 3)}", "v": int(rng.integers(0, 100)),
                     "f": int(rng.random() < 0.3), "ts": int(ts[i])})
    for i in rng.choice(n, 5, replace=False):
        rows[i] = dict(rows[i], v="oops") if i % 2 else {k: v for k, v in rows[i].items() if k != "m"}
    return rows


def _spec(lateness: str = "1s") -> dict[str, Any]:
    return app(*RULES.values(), lateness=lateness, sinks={"alerts": {"to": "memory"}})


def _run(rows: list[dict[str, Any]], sizes: list[int], lateness: str = "1s") -> tuple[dict[str, str], bytes]:
    """Push ``rows`` in chunks cycling through ``sizes`` (1: the fast path; -1: a one-row
    batch through the batch path); outputs as text (NaN-safe) and the final snapshot."""
    plan = compile_rules(_spec(lateness))
    i = j = 0
    while i < len(rows):
        size = sizes[j % len(sizes)]
        j += 1
        if size == -1:
            plan.push("s", tuple(rows[i:i + 1]))  # a tuple of rows is not the fast path's list
            i += 1
        else:
            plan.push("s", rows[i:i + size])
            i += size
    plan.advance("s", 10**9)
    out = plan.collect()
    return {k: f"{t.schema}\n{t.to_pylist()}" for k, t in out.items()}, plan.snapshot()


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return _rows(700, seed=5)


@pytest.fixture(scope="module")
def reference(rows: list[dict[str, Any]]) -> tuple[dict[str, str], bytes]:
    return _run(rows, [-1])


def test_every_rule_kind_has_output(reference: tuple[dict[str, str], bytes]) -> None:
    out = reference[0]
    assert set(out) >= {r["name"] for r in RULES.values()} | {"alerts", "late", "dead_letter"}


def test_per_event_equals_one_row_batches_with_identical_state(rows: list[dict[str, Any]],
                                                                reference: tuple[dict[str, str], bytes]) -> None:
    got = _run(rows, [1])
    assert got[0] == reference[0]
    assert got[1] == reference[1]  # snapshots byte for byte


@pytest.mark.parametrize("sizes", [[7], [512], [1, 7, 1, 1, 512], [1, -1, 7]])
def test_per_event_equals_batches(rows: list[dict[str, Any]], sizes: list[int]) -> None:
    # lateness 0: every out-of-order row is late, so no batch re-sorts rows by event time
    # (with lateness, a batch is processed in event-time order, one event at a time in
    # arrival order: a documented difference of the batch path, not of the fast path)
    got, _ = _run(rows, sizes, lateness="0s")
    ref, _ = _run(rows, [1], lateness="0s")
    assert got.keys() == ref.keys()
    for k in ref:
        assert got[k] == ref[k], k


def test_snapshot_taken_on_the_fast_path_restores_into_the_batch_path(rows: list[dict[str, Any]]) -> None:
    a = compile_rules(_spec())
    for r in rows[:300]:
        a.push("s", [r])
    a.collect()
    c = compile_rules(_spec())
    c.restore(a.snapshot())
    for p in (a, c):
        p.push("s", rows[300:])
    ta, tc = a.collect(), c.collect()
    assert str({k: t.to_pylist() for k, t in ta.items()}) == str({k: t.to_pylist() for k, t in tc.items()})


def test_micro_batcher_single_events_take_the_fast_path() -> None:
    got: list[Any] = []
    plan = compile_rules(app(RULES["filter"]))
    mb = MicroBatcher(plan, "s", got.append, max_events=1, max_delay_ms=0.0)
    mb.push({"m": "k0", "v": 60, "f": 1, "ts": 1})
    mb.push({"m": "k0", "v": 10, "f": 1, "ts": 2})
    assert [t["hot"].to_pylist()[0]["v2"] for t in got] == [120.0]


@pytest.mark.parametrize("text", ["v / f", "v // f", "v % f", "-v ** 0.5", "v > 3 and f == 0 or not (v < 2)",
                                  "1 < v <= 50", "m in ('a', 'b')", "m not in ('a',)", "isnull(m)",
                                  "least(v, 3) + greatest(f, 2)", "where(v > 1, v, f)", "round(v / 3)"])
@pytest.mark.parametrize("row", [{"m": "a", "v": 4.0, "f": 0.0}, {"m": "c", "v": 0.0, "f": 0.0},
                                 {"m": "b", "v": -1.5, "f": 2.0}])
def test_scalar_closures_match_numpy(text: str, row: dict[str, Any]) -> None:
    c = compile_expr(text, {"m": "str", "v": "float64", "f": "float64"})
    cols = {k: np.array([v], dtype=object if isinstance(v, str) else None) for k, v in row.items()}
    with np.errstate(all="ignore"):
        vec = c(cols, 1)[0]
        assert c.sfn is not None
        one = c.sfn(row)
    assert repr(np.asarray(vec).item()) == repr(np.asarray(one).item())


def test_udf_in_the_per_event_path_gets_one_row_arrays() -> None:
    from loopml.streaming import register_udf, unregister_udf

    seen: list[int] = []

    def twice(x: np.ndarray) -> np.ndarray:
        seen.append(len(x))
        return np.asarray(x) * 2

    register_udf("twice_pe", twice)
    try:
        plan = compile_rules(app({"name": "u", "from": "s", "where": "twice_pe(v) > 10", "select": {"w": "twice_pe(v)"}}))
        plan.push("s", [{"m": "a", "v": 6, "f": 0, "ts": 1}])
        plan.push("s", [{"m": "a", "v": 1, "f": 0, "ts": 2}])
        assert plan.collect()["u"].column("w").to_pylist() == [12.0]
        assert set(seen) == {1}
    finally:
        unregister_udf("twice_pe")


def test_failing_udf_makes_the_same_dead_letter_on_both_paths() -> None:
    from loopml.streaming import register_udf, unregister_udf

    def boom(x: np.ndarray) -> np.ndarray:
        raise ValueError("no")

    register_udf("boom_pe", boom)
    try:
        spec = app({"name": "u", "from": "s", "where": "boom_pe(v) > 0"})
        fast, slow = compile_rules(spec), compile_rules(spec)
        row = {"m": "a", "v": 6, "f": 0, "ts": 1}
        fast.push("s", [row])
        slow.push("s", (row,))
        assert fast.collect()["dead_letter"].to_pylist() == slow.collect()["dead_letter"].to_pylist()
    finally:
        unregister_udf("boom_pe")


@pytest.mark.parametrize("rows", [[{"v": 1, "f": 0, "ts": 1}],
                                  [{"m": "a", "v": 1, "f": 0, "ts": 1}, {"v": 1, "f": 0, "ts": 2}],
                                  [{"m": None, "v": 1, "f": 0, "ts": 1}]])
def test_a_missing_string_reads_the_same_in_any_batch(rows: list[dict[str, Any]]) -> None:
    plan = compile_rules(app({"name": "p", "from": "s"}))
    plan.push("s", rows)
    assert plan.collect()["dead_letter"].column("reason").to_pylist()[-1] == "missing field 'm'"
