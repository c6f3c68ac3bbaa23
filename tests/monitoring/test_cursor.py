"""Monitors read the inference log incrementally, from a cursor kept in the store, and a
new monitor process continues where the last one stopped."""

from __future__ import annotations

from pathlib import Path

from loopml.inference_log import InferenceLogWriter, InferenceRecord
from loopml.monitoring.alerts import FIRING, RESOLVED, AlertRule
from loopml.monitoring.monitor import MonitorSpec, alert_engine, run_monitor
from loopml.store import get_monitoring_store
from loopml.store.sql import SqlStore


def _log(root: Path, start_ms: int, n: int, latency_ms: float) -> None:
    """``n`` requests from ``start_ms`` on, in a file named as if written right after them
    (the writer names files by their real write time, which a synthetic clock predates)."""
    before = set(root.rglob("part-*.parquet"))
    w = InferenceLogWriter(root)
    for i in range(n):
        w.write(InferenceRecord("d", f"{start_ms}-{i}", "m", "1", None, [0], latency_ms,
                                timestamp_us=(start_ms + i) * 1000))
    w.close()
    for f in set(root.rglob("part-*.parquet")) - before:
        f.rename(f.with_name(f"part-{start_ms + n}-{f.name.rsplit('-', 1)[-1]}"))


def test_monitor_reads_from_its_cursor_and_continues_alerts(tmp_path) -> None:
    tracking = SqlStore(f"sqlite:///{tmp_path / 'db'}", str(tmp_path / "a"))
    store = get_monitoring_store(tracking)
    root = tmp_path / "ilog"
    spec = MonitorSpec("mon", "d", str(root), window_seconds=1,
                       rules=[AlertRule("p99", "latency.p99_ms", ">", 20)])
    _log(root, 10_000, 5, 50.0)  # window [10000, 11000): slow
    new = run_monitor(spec, store, alert_engine(spec, tracking), now_ms=20_000)
    assert [r.window_start for r in new] == [10_000]
    assert store.last_window_end("mon") == 11_000
    # Files the cursor has passed are not read again: make them unreadable to prove it.
    for f in (tmp_path / "ilog").glob("deployment=d/date=*/part-*.parquet"):
        f.write_bytes(b"not parquet")
    _log(root, 12_000, 5, 5.0)  # window [12000, 13000): fast again
    # A new engine, as in a new `loopml monitor run` process: the alert resolves.
    new = run_monitor(spec, store, alert_engine(spec, tracking), now_ms=20_000)
    assert [r.window_start for r in new] == [12_000]
    kinds = [e.type for e in tracking.read_events(types=[FIRING, RESOLVED])]
    assert kinds == [FIRING, RESOLVED]
    assert run_monitor(spec, store, alert_engine(spec, tracking), now_ms=20_000) == []
    tracking.close()
