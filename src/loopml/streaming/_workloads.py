"""Benchmark and conformance workloads shared by ``bench/cep_engine.py`` (loopml only) and
``bench/cep.py`` (loopml against Siddhi): one trace generator and the rule of each goal
(research note ``streaming.md`` section 7, G1-G6).

The trace: ``n`` events, ``keys`` machines (``m0``...), one event per ``step_ms`` in time
order (optionally shuffled within ``disorder_ms`` to exercise lateness), ``temp`` ~
N(80, 10), ``fail`` = 1 with probability ``fail_rate``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

SCHEMA = {"machine": "str", "temp": "float64", "fail": "int64", "ts": "int64"}


def trace(n: int, keys: int = 50, step_ms: int = 1, fail_rate: float = 0.02, seed: int = 0,
          disorder_ms: int = 0, start_ms: int = 1_700_000_000_000) -> dict[str, np.ndarray]:
    """Columns machine (object str), temp (float64), fail (int64), ts (int64 ms)."""
    rng = np.random.default_rng(seed)
    names = np.array([f"m{i}" for i in range(keys)], dtype=object)
    ts = start_ms + np.arange(n, dtype=np.int64) * step_ms
    if disorder_ms:
        ts = ts + rng.integers(-disorder_ms, disorder_ms + 1, n)
    return {"machine": names[rng.integers(0, keys, n)],
            "temp": np.round(rng.normal(80.0, 10.0, n), 1),
            "fail": (rng.random(n) < fail_rate).astype(np.int64),
            "ts": ts}


def batches(cols: dict[str, np.ndarray], size: int = 512, source: str = "sensors") -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """(source, dict of arrays) slices of ``size`` rows, in order."""
    n = len(cols["ts"])
    for i in range(0, n, size):
        yield source, {k: v[i:i + size] for k, v in cols.items()}


def _app(rule: dict[str, Any], lateness: str = "0s") -> dict[str, Any]:
    return {"version": 1, "app": "bench", "time": {"lateness": lateness},
            "sources": {"sensors": {"key": "machine", "event_time": "ts", "schema": dict(SCHEMA)}},
            "rules": [rule]}


def rule_filter() -> dict[str, Any]:
    """G1: ``from S[temp > 100] select machine, temp, ts``."""
    return _app({"name": "hot", "from": "sensors", "where": "temp > 100", "select": ["machine", "temp", "ts"]})


def rule_sliding() -> dict[str, Any]:
    """G2: ``from S#window.time(1 sec) select machine, avg(temp), max(temp) group by machine``
    (one output row per event)."""
    return _app({"name": "feat", "from": "sensors", "window": {"sliding": "1s"},
                 "select": {"machine": "machine", "temp_avg": "avg(temp)", "temp_max": "max(temp)"}})


def rule_tumbling() -> dict[str, Any]:
    """G3: ``timeBatch(1 sec)`` avg/count group by machine."""
    return _app({"name": "tb", "from": "sensors", "window": {"tumbling": "1s"},
                 "select": {"machine": "machine", "temp_avg": "avg(temp)", "n": "count()"}})


def rule_count() -> dict[str, Any]:
    """G4: partition by machine, ``[fail == 1]``, at least 3 within 10 s (inclusive)."""
    return _app({"name": "c3", "from": "sensors", "where": "fail == 1",
                 "count": {"at_least": 3, "within": "10s"}, "select": ["machine", "ts", "n"]})


def rule_count_siddhi() -> dict[str, Any]:
    """G4 with Siddhi's boundary: ``[fail==1]#window.time(10 sec) having count() >= 3``,
    i.e. a sliding window (t - 10 s, t] with ``having``."""
    return _app({"name": "c3", "from": "sensors", "where": "fail == 1", "window": {"sliding": "10s"},
                 "select": {"machine": "machine", "ts": "ts", "n": "count()"}, "having": "n >= 3"})


def rule_sequence() -> dict[str, Any]:
    """G5: ``every e1=S[fail==1] -> e2=S[machine==e1.machine and fail==1] within 10 sec``."""
    return _app({"name": "ab", "from": "sensors",
                 "sequence": {"steps": [{"where": "fail == 1"}, {"where": "fail == 1"}], "within": "10s"},
                 "select": {"machine": "e1.machine", "t1": "e1.ts", "t2": "e2.ts"}})


WORKLOADS = {"filter": rule_filter, "sliding": rule_sliding, "tumbling": rule_tumbling,
             "count": rule_count, "sequence": rule_sequence}

__all__ = ["SCHEMA", "WORKLOADS", "batches", "rule_count", "rule_count_siddhi", "rule_filter",
           "rule_sequence", "rule_sliding", "rule_tumbling", "trace"]
