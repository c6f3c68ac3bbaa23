"""Deterministic, seeded event traces for the Siddhi differential tests and ``bench/cep.py``.

A trace is what an engine receives, in arrival order: for each stream a table of columns (rows
in the order that stream's events arrive) and ``seq``, the stream index of each arrival, which
interleaves the streams. Event time is the ``ts`` column (milliseconds), which is also the
Siddhi event timestamp (``@app:playback``).

Values are chosen so that both engines compute bit-identical results: temperatures are
binary fractions (a multiple of 0.25 plus a distinct multiple of 2**-20), so sums, and
therefore averages, are exact whatever the order of additions. They are also distinct within
any 262,144 consecutive events: Siddhi 5.1.7's sliding ``max``/``min`` keep a monotonic deque
and remove an expired value by equality (``Deque.removeFirstOccurrence``), so when an older
equal value expires they drop the newer one and report a wrong maximum. Distinct values keep
the oracle right; loopml computes the true maximum either way.

Boundary cases are injected for the keys ``mB`` and ``mC`` (``boundary_events``): events
exactly 1 s and 10 s apart, ties (two events of one key at one millisecond), failures exactly
``within`` apart and 1 ms beyond it, and silences of exactly 30 s and 30 s + 1 ms (for
``not ... for 30 sec``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

# SiddhiQL attribute type -> numpy dtype (strings are object arrays of str).
NUMPY_TYPES = {"string": object, "int": np.int32, "long": np.int64, "float": np.float32,
               "double": np.float64, "bool": np.bool_}
SENSOR_SCHEMA = {"machine": "string", "temp": "double", "fail": "int", "ts": "long"}


@dataclass
class StreamTable:
    """One stream's events in arrival order: ``columns[name]`` is a numpy array."""

    name: str
    schema: dict[str, str]
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.columns["ts"])

    def define(self) -> str:
        """The SiddhiQL ``define stream`` statement for this stream."""
        attrs = ", ".join(f"{k} {t}" for k, t in self.schema.items())
        return f"define stream {self.name} ({attrs});"

    def take(self, idx: np.ndarray) -> StreamTable:
        return StreamTable(self.name, self.schema, {k: v[idx] for k, v in self.columns.items()})

    def arrow(self) -> pa.Table:
        return pa.table({k: pa.array(v) for k, v in self.columns.items()})


@dataclass
class Trace:
    """Streams plus the arrival interleaving ``seq`` (index into ``streams`` per event)."""

    streams: list[StreamTable]
    seq: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))

    def __post_init__(self) -> None:
        if len(self.seq) == 0 and len(self.streams) == 1:
            self.seq = np.zeros(len(self.streams[0]), np.int8)

    def __len__(self) -> int:
        return len(self.seq)

    def stream(self, name: str) -> StreamTable:
        return next(s for s in self.streams if s.name == name)

    def defines(self) -> str:
        return "\n".join(s.define() for s in self.streams)

    def write_tsv(self, path: Path) -> None:
        """Write the harness's input: ``stream, ts, attrs...`` per line, in arrival order."""
        per_stream: list[list[bytes]] = []
        for s in self.streams:
            cols = {"__stream": pa.array(np.full(len(s), s.name, dtype=object)),
                    "__ts": pa.array(s.columns["ts"])}
            cols.update({k: pa.array(v) for k, v in s.columns.items()})
            sink = pa.BufferOutputStream()
            pacsv.write_csv(pa.table(cols), sink, pacsv.WriteOptions(
                include_header=False, delimiter="\t", quoting_style="none"))
            per_stream.append(sink.getvalue().to_pybytes().splitlines())
        if len(self.streams) == 1:
            lines = per_stream[0]
        else:
            cursors = [iter(p) for p in per_stream]
            lines = [next(cursors[i]) for i in self.seq.tolist()]
        with path.open("wb") as fh:
            fh.write(b"\n".join(lines) + b"\n")

    def in_event_time_order(self, lateness_ms: int) -> Trace:
        """Siddhi's input for a disordered trace: late events dropped, the rest sorted by ts.

        An event is late when its ts is below (max ts seen before it) - lateness_ms, the
        watermark rule of loopml; ties keep their arrival order (stable sort). Single-stream
        traces only.
        """
        (s,) = self.streams
        ts = s.columns["ts"]
        seen = np.maximum.accumulate(ts)
        prev = np.concatenate([ts[:1], seen[:-1]])  # the first event is never late
        keep = ts >= prev - lateness_ms
        kept = s.take(np.flatnonzero(keep))
        order = np.argsort(kept.columns["ts"], kind="stable")
        return Trace([kept.take(order)])


def sensor_trace(
    n: int,
    *,
    keys: int = 50,
    seed: int = 0,
    events_per_ms: float = 1.0,
    p_fail: float = 0.02,
    disorder_ms: int = 0,
    boundaries: bool = True,
    name: str = "S",
) -> Trace:
    """``n`` random sensor events (machine, temp, fail, ts) plus the boundary events.

    Timestamps are integer milliseconds with about ``events_per_ms`` events per ms (so ties
    occur); ``disorder_ms`` > 0 delays each arrival by up to that many ms (event time is
    unchanged), which makes the trace out of order.
    """
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.integers(0, max(1, int(n / events_per_ms)), n)).astype(np.int64)
    machine = np.array([f"m{i:02d}" for i in range(keys)], dtype=object)[rng.integers(0, keys, n)]
    temp = np.round(rng.normal(80.0, 15.0, n) * 4.0) / 4.0 + (np.arange(n) % (1 << 18)) * 2.0**-20
    fail = (rng.random(n) < p_fail).astype(np.int32)
    cols = {"machine": machine, "temp": temp, "fail": fail, "ts": ts}
    if boundaries:
        cols = _merge(cols, boundary_events(int(ts[-1]) if n else 0))
    if disorder_ms > 0:
        arrival = cols["ts"] + rng.integers(0, disorder_ms + 1, len(cols["ts"]))
        order = np.argsort(arrival, kind="stable")
        cols = {k: v[order] for k, v in cols.items()}
    return Trace([StreamTable(name, dict(SENSOR_SCHEMA), cols)])


def boundary_events(span_ms: int) -> dict[str, np.ndarray]:
    """Hand-placed events for keys ``mB`` and ``mC`` spread over ``[0, span_ms]``.

    Each group sits at a base time b (every 40 s). ``mB``: temps at b, b+1000 (exactly one
    1 s window apart), a tie at b+1000, then failures at b, b+10000 (exactly `within 10 sec`),
    b+20001 (1 ms beyond) and b+20001 again (a tie). ``mC`` (absence, `for 30 sec`): events
    at b+5000 and b+35000 (exactly 30 s later) in even groups, b+35001 (30 s + 1 ms) in odd
    ones, then 10 s until the next group.
    """
    rows: list[tuple[str, int, float, int]] = []
    step = 40_000
    for g, b in enumerate(range(1_000, max(span_ms - 40_000, 1_001), step)):
        rows += [("mB", b, 100.5, 1), ("mB", b + 1000, 101.0, 0), ("mB", b + 1000, 99.75, 0),
                 ("mB", b + 2000, 100.0, 0), ("mB", b + 10_000, 120.25, 1),
                 ("mB", b + 20_001, 95.0, 1), ("mB", b + 20_001, 96.5, 1),
                 ("mC", b + 5000, 20.0, 0), ("mC", b + 35_000 + g % 2, 21.0, 0)]
    return {"machine": np.array([r[0] for r in rows], dtype=object),
            "temp": np.array([r[2] for r in rows], np.float64),
            "fail": np.array([r[3] for r in rows], np.int32),
            "ts": np.array([r[1] for r in rows], np.int64)}


def _merge(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    cat = {k: np.concatenate([a[k], b[k]]) for k in a}
    order = np.argsort(cat["ts"], kind="stable")
    return {k: v[order] for k, v in cat.items()}


def batches(table: StreamTable, size: int) -> Iterator[dict[str, np.ndarray]]:
    """Arrival-order slices of at most ``size`` events (column dicts)."""
    for start in range(0, len(table), size):
        yield {k: v[start:start + size] for k, v in table.columns.items()}
