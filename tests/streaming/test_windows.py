"""Windows: boundaries (t - W, t], tumbling/hopping emission, count windows, and results
that do not depend on how the stream is cut into batches (checked against a per-event
reference written in plain Python)."""

from __future__ import annotations

import numpy as np
import pytest

from loopml.streaming import compile_rules
from tests.streaming.conftest import app, events, random_trace, split


def run(spec, *batches):
    return compile_rules(spec).run_batches([("s", b) for b in batches])


def test_sliding_window_excludes_the_event_exactly_w_old() -> None:
    spec = app({"name": "w", "from": "s", "window": {"sliding": "1s"},
                "select": {"n": "count()", "total": "sum(v)", "lo": "min(v)", "hi": "max(v)"}})
    out = run(spec, events(("a", 1, 0, 0), ("a", 2, 0, 999), ("a", 4, 0, 1000), ("a", 8, 0, 1999)))["w"]
    assert out.column("n").to_pylist() == [1, 2, 2, 2]  # at 1000: (0, 1000] drops t=0
    assert out.column("total").to_pylist() == [1, 3, 6, 12]
    assert out.column("lo").to_pylist() == [1, 1, 2, 4]
    assert out.column("hi").to_pylist() == [1, 2, 4, 8]
    assert out.column_names == ["m", "n", "total", "lo", "hi", "_time"]


def test_ties_see_only_earlier_arrivals() -> None:
    spec = app({"name": "w", "from": "s", "window": {"sliding": "1s"}, "select": {"n": "count()"}})
    out = run(spec, events(("a", 1, 0, 5), ("a", 1, 0, 5), ("a", 1, 0, 5)))["w"]
    assert out.column("n").to_pylist() == [1, 2, 3]


def test_keys_are_separate_and_other_aggregates() -> None:
    spec = app({"name": "w", "from": "s", "window": {"sliding": "10s"},
                "select": {"a": "avg(v)", "sd": "std(v)", "first": "first(v)", "last": "last(v)",
                           "d": "distinctCount(v)"}})
    out = run(spec, events(("a", 1, 0, 0), ("b", 10, 0, 1), ("a", 3, 0, 2), ("a", 3, 0, 3)))["w"].to_pylist()
    assert [r["a"] for r in out] == [1, 10, 2, pytest.approx(7 / 3)]
    assert out[2]["sd"] == pytest.approx(1.0) and out[2]["first"] == 1 and out[3]["last"] == 3
    assert [r["d"] for r in out] == [1, 1, 2, 2]


def test_tumbling_emits_when_the_watermark_reaches_the_window_end() -> None:
    spec = app({"name": "t", "from": "s", "window": {"tumbling": "1s"}, "select": {"n": "count()", "s": "sum(v)"}})
    plan = compile_rules(spec)
    out = plan.run_batches([("s", events(("a", 1, 0, 0), ("b", 2, 0, 500), ("a", 3, 0, 999)))])
    assert "t" not in out  # window [0, 1000) still open
    out = plan.run_batches([("s", events(("a", 4, 0, 1000)))])["t"].to_pylist()
    assert out == [{"m": "a", "n": 2, "s": 4.0, "_time": 1000}, {"m": "b", "n": 1, "s": 2.0, "_time": 1000}]


def test_hopping_window_is_sliding_plus_every() -> None:
    spec = app({"name": "h", "from": "s", "window": {"sliding": "2s", "every": "1s"}, "select": {"n": "count()"}})
    out = run(spec, events(("a", 1, 0, 0), ("a", 1, 0, 1000), ("a", 1, 0, 1500), ("a", 1, 0, 3001)))["h"].to_pylist()
    # windows (b - 2000, b] for b = 0, 1000, 2000, 3000 (closed once the watermark passes b)
    assert [(r["_time"], r["n"]) for r in out] == [(0, 1), (1000, 2), (2000, 2), (3000, 1)]


def test_count_window_every() -> None:
    spec = app({"name": "c", "from": "s", "window": {"count": 2, "every": 2}, "select": {"s": "sum(v)"}})
    out = run(spec, events(("a", 1, 0, 0), ("a", 2, 0, 1), ("b", 5, 0, 2)), events(("a", 4, 0, 3), ("a", 8, 0, 4)))
    assert [(r["m"], r["s"]) for r in out["c"].to_pylist()] == [("a", 3.0), ("a", 12.0)]


def test_having_on_window_output() -> None:
    spec = app({"name": "c", "from": "s", "where": "f == 1", "window": {"sliding": "10s"},
                "select": {"n": "count()"}, "having": "n >= 2"})
    out = run(spec, events(("a", 0, 1, 0), ("a", 0, 0, 1), ("a", 0, 1, 2), ("a", 0, 1, 10_002)))["c"]
    assert out.column("_time").to_pylist() == [2]  # at 10002 the window (2, 10002] holds 1 event


def _reference_sliding(cols, width):
    out = []
    seen = []
    for m, v, t in zip(cols["m"], cols["v"], cols["ts"], strict=True):
        seen.append((m, v, t))
        win = [x for x in seen if x[0] == m and t - width < x[2] <= t]
        out.append((m, len(win), sum(x[1] for x in win), max(x[1] for x in win), int(t)))
    return out


@pytest.mark.parametrize("size", [1, 7, 64, 512])
def test_sliding_matches_reference_for_any_batch_size(size: int) -> None:
    cols = random_trace(600, seed=size)
    spec = app({"name": "w", "from": "s", "window": {"sliding": "1s"},
                "select": {"n": "count()", "s": "sum(v)", "hi": "max(v)"}})
    got = compile_rules(spec).run_batches(split(cols, size))["w"].to_pylist()
    assert [(r["m"], r["n"], r["s"], r["hi"], r["_time"]) for r in got] == _reference_sliding(cols, 1000)


@pytest.mark.parametrize("size", [1, 13, 512])
def test_tumbling_same_for_any_batch_size(size: int) -> None:
    cols = random_trace(500, seed=3)
    spec = app({"name": "t", "from": "s", "window": {"tumbling": "1s"}, "select": {"n": "count()"}})
    got = compile_rules(spec).run_batches(split(cols, size))["t"].to_pylist()
    ref = compile_rules(spec).run_batches(split(cols, 10_000))["t"].to_pylist()
    assert got == ref and sum(r["n"] for r in ref) < 500  # the last window stays open
    assert np.all(np.diff([r["_time"] for r in got]) >= 0)


def test_group_by_two_columns_and_string_aggregates() -> None:
    spec = app({"name": "g", "from": "s", "group_by": ["m", "f"], "window": {"tumbling": "1s"},
                "select": {"n": "count()", "d": "distinctCount(m)", "first_m": "first(m)", "top": "max(v)"}})
    out = run(spec, events(("a", 1, 0, 0), ("a", 2, 1, 1), ("a", 3, 0, 2), ("b", 4, 0, 3), ("b", 0, 0, 1000)))
    rows = sorted((r["m"], r["f"], r["n"], r["d"], r["first_m"], r["top"]) for r in out["g"].to_pylist())
    assert rows == [("a", 0, 2, 1, "a", 3.0), ("a", 1, 1, 1, "a", 2.0), ("b", 0, 1, 1, "b", 4.0)]


def test_tumbling_select_of_a_non_group_column_is_a_lint_error() -> None:
    from loopml.errors import InvalidConfig

    with pytest.raises(InvalidConfig, match=r"'v' outside an aggregate.*use last\(v\)"):
        compile_rules(app({"name": "t", "from": "s", "window": {"tumbling": "1s"}, "select": {"x": "v"}}))


@pytest.mark.parametrize("size", [1, 7])
def test_hopping_window_is_emitted_once_whatever_the_batch_size(size: int) -> None:
    # a hopping row stays for its later windows; a window closed by an earlier batch must
    # not be emitted again by the next one
    cols = random_trace(300, seed=1)
    spec = app({"name": "hp", "from": "s", "window": {"sliding": "2s", "every": "1s"}, "select": {"n": "count()"}})
    got = compile_rules(spec).run_batches(split(cols, size))["hp"].to_pylist()
    ref = compile_rules(spec).run_batches(split(cols, 10_000))["hp"].to_pylist()
    assert got == ref
