"""Patterns: count within T (inclusive), sequences (every, strict, two streams), absence,
suppression; each checked at the exact boundary."""

from __future__ import annotations

from typing import Any

import pytest

from loopml.streaming import compile_rules
from tests.streaming.conftest import app, events, random_trace, split


def run(spec: dict[str, Any], *batches: Any) -> dict[str, Any]:
    return compile_rules(spec).run_batches([("s", b) for b in batches])


def test_count_within_is_inclusive_and_fires_on_every_qualifying_event() -> None:
    spec = app({"name": "c", "from": "s", "where": "f == 1", "count": {"at_least": 2, "within": "10s"}})
    out = run(spec, events(("a", 0, 1, 0), ("a", 0, 1, 10_000), ("a", 0, 0, 10_001), ("a", 0, 1, 10_001),
                           ("b", 0, 1, 10_002), ("a", 0, 1, 20_002)))["c"].to_pylist()
    assert [(r["ts"], r["n"]) for r in out] == [(10_000, 2), (10_001, 2)]  # t - T exactly counts
    assert list(out[0]) == ["m", "v", "f", "ts", "n", "_time"]


def _reference_count(cols: dict[str, Any], at_least: int, within: int) -> list[tuple[str, int, int]]:
    seen: list[tuple[str, int]] = []
    out = []
    for m, f, t in zip(cols["m"], cols["f"], cols["ts"], strict=True):
        if f != 1:
            continue
        seen.append((m, int(t)))
        n = sum(1 for k, s in seen if k == m and t - within <= s <= t)
        if n >= at_least:
            out.append((m, int(t), n))
    return out


@pytest.mark.parametrize("size", [1, 9, 512])
def test_count_matches_reference(size: int) -> None:
    cols = random_trace(700, seed=size + 11)
    spec = app({"name": "c", "from": "s", "where": "f == 1", "count": {"at_least": 3, "within": "2s"}})
    got = compile_rules(spec).run_batches(split(cols, size)).get("c")
    rows = [] if got is None else [(r["m"], r["_time"], r["n"]) for r in got.to_pylist()]
    assert rows == _reference_count(cols, 3, 2000)


def test_sequence_within_is_inclusive_with_every() -> None:
    spec = app({"name": "ab", "from": "s", "sequence": {
        "steps": [{"where": "f == 1"}, {"where": "v > 50"}], "within": "10s"}})
    out = run(spec, events(("a", 0, 1, 0), ("a", 0, 1, 5), ("b", 99, 0, 6), ("a", 99, 0, 10_000),
                           ("a", 0, 1, 20_000), ("a", 99, 0, 30_001)))["ab"].to_pylist()
    # both pending a-starts (0 and 5) complete on the a event at 10000 (10000 - 0 <= 10s);
    # the start at 20000 expires: 30001 - 20000 > 10s; b never started.
    assert [(r["e1_ts"], r["e2_ts"]) for r in out] == [(0, 10_000), (5, 10_000)]
    assert list(out[0])[:4] == ["e1_m", "e1_v", "e1_f", "e1_ts"] and list(out[0])[-1] == "_time"


def test_sequence_without_every_matches_once_and_select_uses_aliases() -> None:
    spec = app({"name": "ab", "from": "s", "sequence": {
        "steps": [{"where": "f == 1", "as": "x"}, {"where": "f == 1", "as": "y"}], "within": "1s", "every": False},
        "select": {"m": "x.m", "gap": "y.ts - x.ts"}})
    out = run(spec, events(("a", 0, 1, 0), ("a", 0, 1, 100), ("a", 0, 1, 200)))["ab"].to_pylist()
    assert out == [{"m": "a", "gap": 100, "_time": 100}]


def test_strict_sequence_needs_the_next_event_of_the_key() -> None:
    spec = app({"name": "ab", "from": "s", "sequence": {
        "steps": [{"where": "f == 1"}, {"where": "v > 50"}], "within": "10s", "strict": True}})
    out = run(spec, events(("a", 0, 1, 0), ("b", 0, 0, 1), ("a", 60, 0, 2),   # a: next a-event matches
                           ("a", 0, 1, 3), ("a", 0, 0, 4), ("a", 60, 0, 5)))   # broken by the event at 4
    assert [(r["e1_ts"], r["e2_ts"]) for r in out["ab"].to_pylist()] == [(0, 2)]


def test_sequence_across_two_streams() -> None:
    spec = app({"name": "ab", "from": "doors", "sequence": {
        "steps": [{"where": "state == 'open'"}, {"from": "s", "where": "v > 30"}], "within": "2m"}})
    spec["sources"]["doors"] = {"key": "m", "event_time": "ts", "schema": {"m": "str", "state": "str", "ts": "int64"}}
    plan = compile_rules(spec)
    out = plan.run_batches([("doors", {"m": ["a"], "state": ["open"], "ts": [0]}),
                            ("s", events(("a", 31, 0, 1000), ("a", 40, 0, 2000)))])["ab"].to_pylist()
    assert len(out) == 1 and out[0]["e1_state"] == "open" and out[0]["e2_v"] == 31


def test_absent_fires_after_the_watermark_passes_the_deadline() -> None:
    spec = app({"name": "gone", "from": "s", "absent": {"for": "30s"}})
    plan = compile_rules(spec)
    out = plan.run_batches([("s", events(("a", 0, 0, 0), ("b", 0, 0, 1), ("a", 0, 0, 30_000)))])
    # a at exactly 30000 does not cancel (Siddhi: the silence lasted T), but neither deadline
    # has been passed by the watermark yet
    assert "gone" not in out
    out = plan.run_batches([("s", events(("a", 0, 0, 30_002)))])["gone"].to_pylist()
    assert [(r["m"], r["_time"]) for r in out] == [("a", 30_000), ("b", 30_001)]
    plan.advance("s", 60_003)  # a: last event 30002, deadline 60002
    assert [r["m"] for r in plan.collect()["gone"].to_pylist()] == ["a"]


def test_a_not_followed_by_b() -> None:
    spec = app({"name": "unack", "from": "s", "absent": {"for": "5s", "after": "f == 1", "cancel": "v > 0"}})
    out = run(spec, events(("a", 0, 1, 0), ("b", 0, 1, 0), ("b", 0, 0, 1000), ("a", 1, 0, 4000), ("c", 0, 0, 9000)))
    assert [(r["m"], r["_time"]) for r in out["unack"].to_pylist()] == [("b", 5000)]


def test_suppress_is_a_per_key_cooldown() -> None:
    spec = app({"name": "hot", "from": "s", "where": "v > 90", "suppress": {"per_key": "60s"}})
    out = run(spec, events(("a", 95, 0, 0), ("b", 95, 0, 1), ("a", 95, 0, 59_999), ("a", 95, 0, 60_000)))
    assert [(r["m"], r["ts"]) for r in out["hot"].to_pylist()] == [("a", 0), ("b", 1), ("a", 60_000)]


def test_count_then_suppress_chained_rules() -> None:
    spec = app({"name": "c3", "from": "s", "where": "f == 1", "count": {"at_least": 3, "within": "10s"},
                "suppress": {"per_key": "5m"}, "select": ["m", "n"]},
               {"name": "stop", "from": "c3", "where": "n >= 3"})
    rows = [("a", 0, 1, t) for t in range(0, 5000, 1000)]
    out = run(spec, events(*rows))
    assert out["c3"].num_rows == 1 and out["stop"].num_rows == 1


def test_sequence_step_conditions_can_use_earlier_steps() -> None:
    spec = app({"name": "rise", "from": "s", "sequence": {
        "steps": [{"where": "f == 1"}, {"where": "v > e1.v + 10"}], "within": "10s"},
        "select": {"m": "e1.m", "v1": "e1.v", "v2": "e2.v"}})
    out = run(spec, events(("a", 50, 1, 0), ("a", 55, 0, 1), ("a", 70, 1, 2), ("a", 75, 0, 3), ("a", 90, 0, 4)))
    # e1=50 waits past 55 (not > 60) and completes on 70; e1=70 completes on 90 (75 is not > 80)
    assert [(r["v1"], r["v2"]) for r in out["rise"].to_pylist()] == [(50.0, 70.0), (70.0, 90.0)]


def test_absence_alerts_sharing_a_deadline_come_in_arrival_order() -> None:
    """Siddhi emits simultaneous absence alerts in the order their arming events arrived
    (seen on the 1M-event differential corpus); so does loopml, at any batch size."""
    spec = app({"name": "gone", "from": "s", "absent": {"for": "10s"}})
    evs = [("zz", 0, 0, 5), ("aa", 0, 0, 5), ("mm", 0, 0, 5)]
    for cut in (1, 2, 3):
        plan = compile_rules(spec)
        plan.run_batches([("s", events(*evs[:cut]))])
        if cut < 3:
            plan.run_batches([("s", events(*evs[cut:]))])
        plan.advance("s", 20_000)
        rows = plan.collect()["gone"].to_pylist()
        assert [r["m"] for r in rows] == ["zz", "aa", "mm"], cut


def test_absence_restores_a_snapshot_taken_before_arrival_numbers() -> None:
    from loopml.streaming.patterns import AbsentOp

    op = AbsentOp(10, ["m"])
    op.restore({"pending": [["b", [[100, "b"]]], ["a", [[100, "a"], [90, "a"]]]]})
    assert op.fire(200) == [["a", 90], ["a", 100], ["b", 100]]
    assert op.seq == 3 and op.snapshot()["pending"] == []
