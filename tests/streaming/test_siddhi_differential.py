"""Differential tests: the conformance app (one query per operator of the SiddhiQL subset,
``tests/streaming/siddhi/corpus.py``) runs in Siddhi 5.1.7 and, compiled by
``loopml.streaming.siddhiql``, in loopml, on seeded traces; every output stream must be
identical (order rules in ``tests/streaming/siddhi/diff.py``).

The small corpus runs in ``make test``; the full one (>= 1M events in all) is marked slow.
Skipped with the reason when java/javac or pysiddhi are missing, except under CI=true.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pytest

from loopml.streaming.siddhiql import compile_siddhiql, siddhiql_to_rules
from tests.streaming.siddhi.corpus import QUERIES, app
from tests.streaming.siddhi.diff import Diff, diff_app, loopml_rows, run_loopml, siddhi_norm
from tests.streaming.siddhi.oracle import Row, oracle_or_skip
from tests.streaming.siddhi.traces import Trace, sensor_trace

# Known differences, each one an engine change requested from loopml.streaming's owners
# (none now: absence follows Siddhi's [t_arm, t_arm + T) since the merge of issue 17).
KNOWN: dict[str, str] = {}


@dataclass
class Run:
    trace: Trace
    rules: dict
    siddhi: dict[str, list[Row]]
    loopml: dict[int, dict[str, pa.Table]]  # batch size -> outputs
    _diffs: dict[int, dict[str, Diff]] = field(default_factory=dict)

    def diffs(self, batch: int) -> dict[str, Diff]:
        if batch not in self._diffs:
            self._diffs[batch] = diff_app(self.rules, self.siddhi, self.loopml[batch])
        return self._diffs[batch]


def _run(trace: Trace, batch_sizes: tuple[int, ...]) -> Run:
    oracle = oracle_or_skip()
    text = app(trace.defines())
    end = int(trace.streams[0].columns["ts"].max()) + 3_600_000
    siddhi = oracle.run(text, trace, flush_at=end)
    rules = siddhiql_to_rules(text)
    outs = {b: run_loopml(compile_siddhiql(text), trace, batch=b, advance_to=end) for b in batch_sizes}
    return Run(trace, rules, siddhi, outs)


def _check(run: Run, stream: str, batch: int) -> None:
    d = run.diffs(batch)[stream]
    if stream in KNOWN and not d.identical:
        pytest.xfail(KNOWN[stream])
    assert d.identical, f"{stream} ({d.siddhi_rows} Siddhi rows, {d.loopml_rows} loopml rows): {d.first}"
    assert stream not in KNOWN, f"{stream} now matches Siddhi: drop it from KNOWN"


@pytest.fixture(scope="module")
def small() -> Run:
    # 12k events over ~120 s (two boundary groups), failures frequent enough for patterns.
    return _run(sensor_trace(12_000, seed=7, events_per_ms=0.1, p_fail=0.1), (512, 32))


@pytest.mark.parametrize("stream", list(QUERIES))
def test_small_corpus_identical_to_siddhi(small: Run, stream: str) -> None:
    assert small.siddhi.get(stream) or stream in ("Sequence",), f"Siddhi produced no {stream} rows"
    _check(small, stream, 512)


@pytest.mark.parametrize("stream", list(QUERIES))
def test_small_corpus_batch_size_does_not_change_outputs(small: Run, stream: str) -> None:
    _check(small, stream, 32)


def test_corpus_has_boundary_cases(small: Run) -> None:
    # The boundary rows are there and exercised: `within 10 sec` matched at exactly 10 s.
    follows = small.siddhi["FollowedBy"]
    assert any(r[1] == "mB" and r[3] - r[2] == 10_000 for r in follows)
    assert not any(r[1] == "mB" and r[3] - r[2] > 10_000 for r in follows)


# Out of order (arrivals up to 50 ms late, lateness 50 ms): Siddhi gets the trace sorted by event
# time. loopml sorts on-time events within each batch, not across batches, so per-event order can
# differ; these streams hold the same rows (as multisets). Sliding/External/Length5 aggregates
# differ by design: an event's aggregates cover the events that arrived before it.
DISORDER_SAME_ROWS = ("Filter", "Filter2", "HavingMax", "Count3", "LengthBatch4", "FollowedBy",
                      "ThreeSteps", "Sequence", "Suppressed")


@pytest.mark.slow
def test_disordered_trace_same_rows_as_siddhi_on_the_sorted_trace() -> None:
    oracle = oracle_or_skip()
    trace = sensor_trace(12_000, seed=7, events_per_ms=0.1, p_fail=0.1, disorder_ms=50)
    text = app(trace.defines())
    end = int(trace.streams[0].columns["ts"].max()) + 3_600_000
    siddhi = oracle.run(text, trace.in_event_time_order(50), flush_at=end)
    out = run_loopml(compile_siddhiql(text, lateness="50ms"), trace, advance_to=end)
    assert "late" not in out
    rules = siddhiql_to_rules(text, lateness="50ms")
    for rule in rules["rules"]:
        stream = rule["as"]
        if stream not in DISORDER_SAME_ROWS:
            continue
        lm = loopml_rows(out.get(stream), list(rule["select"]))
        assert sorted(map(repr, siddhi_norm(siddhi[stream]))) == sorted(map(repr, lm)), stream
    tumbling = diff_app(rules, siddhi, out)["Tumbling"]
    assert tumbling.identical, tumbling.first


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_full_corpus_identical_to_siddhi(seed: int) -> None:
    # 3 x 350k = 1.05M events, 50 keys, ~1 event/ms with ties, and the boundary groups.
    run = _run(sensor_trace(350_000, seed=seed), (512,))
    bad = {s: d for s, d in run.diffs(512).items() if not d.identical and s not in KNOWN}
    assert not bad, "\n".join(f"{s}: {d.first}" for s, d in bad.items())
