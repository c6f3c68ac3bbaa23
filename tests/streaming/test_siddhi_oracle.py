"""The Siddhi oracle itself: the harness compiles against the PySiddhi jars and runs in playback
mode, and Siddhi's boundary rules are the ones loopml documents."""

from __future__ import annotations

import numpy as np
import pytest

from tests.streaming.siddhi.oracle import SiddhiOracle, oracle_or_skip
from tests.streaming.siddhi.traces import SENSOR_SCHEMA, StreamTable, Trace, sensor_trace


@pytest.fixture(scope="module")
def siddhi() -> SiddhiOracle:
    return oracle_or_skip()


def _trace(rows: list[tuple[str, float, int, int]]) -> Trace:
    cols = {
        "machine": np.array([r[0] for r in rows], dtype=object),
        "temp": np.array([r[1] for r in rows], np.float64),
        "fail": np.array([r[2] for r in rows], np.int32),
        "ts": np.array([r[3] for r in rows], np.int64),
    }
    return Trace([StreamTable("S", dict(SENSOR_SCHEMA), cols)])


def test_playback_filter_windows_and_within_boundaries(siddhi: SiddhiOracle) -> None:
    trace = _trace([("m1", 99.5, 1, 0), ("m1", 101.25, 0, 500), ("m1", 102.0, 1, 1000),
                    ("m2", 50.0, 0, 1000), ("m1", 1.0, 1, 2000)])
    app = trace.defines() + """
from S[temp > 100] select machine, temp insert into Hot;
from S#window.time(1 sec) select machine, count() as n, max(temp) as m group by machine insert into W;
from every e1=S[fail == 1] -> e2=S[machine == e1.machine and fail == 1] within 1 sec
select e1.ts as t1, e2.ts as t2 insert into AB;
from S#window.timeBatch(1 sec, 0) select machine, avg(temp) as a, count() as n group by machine
insert into T;
"""
    # Heartbeats at every second (--tick-every) change nothing here: windows close on time alone.
    out = siddhi.run(app, trace, flush_at=5000, tick_every=1000)
    assert out["Hot"] == [(500, "m1", 101.25), (1000, "m1", 102.0)]
    # (t - 1 s, t]: at t = 1000 the event at 0 has expired; at 2000 the one at 1000 has too.
    assert out["W"] == [(0, "m1", 1, 99.5), (500, "m1", 2, 101.25), (1000, "m1", 2, 102.0),
                        (1000, "m2", 1, 50.0), (2000, "m1", 1, 1.0)]
    # `within 1 sec` is inclusive: 0 -> 1000 and 1000 -> 2000 both match.
    assert out["AB"] == [(1000, 0, 1000), (2000, 1000, 2000)]
    # Tumbling [0, 1000), [1000, 2000), [2000, 3000): the last one only fires at the flush event.
    assert out["T"] == [(500, "m1", 100.375, 2), (1000, "m1", 102.0, 1), (1000, "m2", 50.0, 1),
                        (2000, "m1", 1.0, 1)]


def test_generated_trace_through_batched_send(siddhi: SiddhiOracle) -> None:
    trace = sensor_trace(20_000, seed=3)
    app = trace.defines() + "\nfrom S[temp > 100] select machine, temp, ts insert into Hot;\n"
    cols = trace.streams[0].columns
    hot = siddhi.run(app, trace, batch=512)["Hot"]
    assert len(hot) == int((cols["temp"] > 100).sum())
    assert [r[3] for r in hot] == cols["ts"][cols["temp"] > 100].tolist()


def test_disordered_trace_is_sorted_for_siddhi() -> None:
    trace = sensor_trace(5_000, seed=4, disorder_ms=20)
    ts = trace.streams[0].columns["ts"]
    assert (np.diff(ts) < 0).any()
    ordered = trace.in_event_time_order(lateness_ms=20)
    assert len(ordered) == len(trace)  # nothing is later than the disorder bound
    assert (np.diff(ordered.streams[0].columns["ts"]) >= 0).all()
    assert len(trace.in_event_time_order(lateness_ms=5)) < len(trace)
