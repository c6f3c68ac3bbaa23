"""loopml CEP engine micro-benchmark (no peer: Siddhi runs in bench/cep.py, which imports the
same workloads from loopml.streaming._workloads).

    PYTHONPATH=src python bench/cep_engine.py [--events 1000000]

Prints events/s per CPU second (process time, so that a shared machine skews it less; median of 3) for G1-G5 on 512-event batches with 50 keys, the per-event
path (G6: rows pushed one by one through MicroBatcher at a low rate, and the plan at batch
size 1), and bytes of state per retained event (G8).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

from loopml.streaming import MicroBatcher, compile_rules
from loopml.streaming._workloads import (
    WORKLOADS,
    batches,
    rule_count,
    rule_filter,
    rule_sliding,
    trace,
)
from loopml.streaming.windows import retained_bytes

GOALS = {"filter": 20e6, "sliding": 2e6, "tumbling": 3e6, "count": 5e6, "sequence": 5e6}


def _rate(name: str, cols: dict[str, np.ndarray], size: int = 512) -> float:
    parts = list(batches(cols, size))
    n = len(cols["ts"])
    runs = []
    for _ in range(3):
        plan = compile_rules(WORKLOADS[name]())
        t0 = time.process_time()
        for source, b in parts:
            plan.push(source, b)
        plan.collect()
        runs.append(n / (time.process_time() - t0))
    return statistics.median(runs)


def _rows(n: int) -> list[dict[str, Any]]:
    cols = trace(n)
    return [{k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in cols.items()} for i in range(n)]


def _per_event(n: int, rule: Any = rule_sliding, fast: bool = True) -> dict[str, Any]:
    """Rows pushed one by one through MicroBatcher (one-row flushes): events per CPU
    second and the p99 of each push (wall clock, perf_counter). ``fast=False`` pushes each
    row as a one-row tuple, which the per-event path does not take (the batch path)."""
    rows = _rows(n)
    plan = compile_rules(rule())
    mb = MicroBatcher(plan, "sensors", lambda out: None, max_events=1, max_delay_ms=0.0)
    if not fast:
        mb.plan = _TuplePlan(plan)  # type: ignore[assignment]
    _warm_up(rule)
    lat = []
    t0 = time.process_time()
    for r in rows:
        s = time.perf_counter()
        mb.push(r)
        lat.append(time.perf_counter() - s)
    total = time.process_time() - t0
    return {"eps": n / total, "p99_ms": float(np.percentile(lat, 99)) * 1e3}


def _warm_up(rule: Any) -> None:
    """pyarrow's first tables cost ~0.5 s of imports: not the engine's per-event cost."""
    plan = compile_rules(rule())
    for r in _rows(300):
        plan.push("sensors", [r])
        plan.collect()


class _TuplePlan:
    def __init__(self, plan: Any) -> None:
        self.plan = plan

    def push(self, source: str, rows: list[dict[str, Any]]) -> None:
        self.plan.push(source, tuple(rows))

    def collect(self) -> Any:
        return self.plan.collect()


def _offered(rate: float, seconds: float, rule: Any = rule_sliding, max_delay_ms: float = 2.0) -> dict[str, float]:
    """Rows offered at ``rate`` events/s (wall clock) to a MicroBatcher (``max_delay_ms``:
    below the gap between events, every row is processed at once); the added latency of a row is from its due time to the end of the push/poll
    that flushed it (p50/p99 in ms)."""
    n = int(rate * seconds)
    rows = _rows(n)
    plan = compile_rules(rule())
    mb = MicroBatcher(plan, "sensors", lambda out: None, max_delay_ms=max_delay_ms)
    _warm_up(rule)
    pending: list[float] = []
    lat: list[float] = []
    start = time.perf_counter()
    i = 0
    while i < n:
        now = time.perf_counter()
        due = start + i / rate
        if now < due:
            mb.poll()
            if not mb._buf and pending:
                lat.extend(time.perf_counter() - d for d in pending)
                pending.clear()
            continue
        pending.append(due)
        flushes = mb.flushes
        mb.push(rows[i])
        i += 1
        if mb.flushes != flushes:
            end = time.perf_counter()
            lat.extend(end - d for d in pending)
            pending.clear()
    mb.flush()
    end = time.perf_counter()
    lat.extend(end - d for d in pending)
    return {"p50_ms": float(np.percentile(lat, 50)) * 1e3, "p99_ms": float(np.percentile(lat, 99)) * 1e3}


def _print_per_event() -> None:
    print("per-event (G6: >= 200k events/s; one-row flushes; batch path = the same rows as one-row tuples):")
    for label, rule in (("filter", rule_filter), ("sliding", rule_sliding), ("count", rule_count)):
        fast, slow = _per_event(20_000, rule), _per_event(5_000, rule, fast=False)
        print(f"  {label:<8} fast {fast['eps']:>10,.0f} ev/s (p99 {fast['p99_ms']:.3f} ms)   batch path "
              f"{slow['eps']:>8,.0f} ev/s (p99 {slow['p99_ms']:.3f} ms)   x{fast['eps'] / slow['eps']:.1f}  "
              f"{'yes' if fast['eps'] >= 2e5 else 'NO'}")
    print("  offered 10k ev/s for 1 s, added latency (wall clock: a loaded machine inflates it; goal p99 <= 1 ms):")
    for label, rule in (("filter", rule_filter), ("sliding", rule_sliding)):
        for delay in (0.05, 2.0):
            off = _offered(10_000, 1.0, rule, delay)
            print(f"    {label:<8} max_delay_ms={delay:<5} p50 {off['p50_ms']:.3f} ms  p99 {off['p99_ms']:.3f} ms")


def _state_bytes() -> float:
    cols = trace(200_000)
    plan = compile_rules(rule_sliding())
    for source, b in batches(cols):
        plan.push(source, b)
    plan._out.clear()
    ops = [r.op for r in plan.rules]
    retained = sum(len(op.state.key) for op in ops)
    return retained_bytes(ops) / max(retained, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--per-event-only", action="store_true", help="only the G6 per-event figures")
    args = ap.parse_args()
    if args.per_event_only:
        _print_per_event()
        return
    cols = trace(args.events)
    print(f"{'workload':<10} {'events/s':>12} {'goal':>10}  ok")
    for name in WORKLOADS:
        r = _rate(name, cols)
        print(f"{name:<10} {r:>12,.0f} {GOALS[name]:>10,.0f}  {'yes' if r >= GOALS[name] else 'NO'}")
    import pyarrow as pa

    table = pa.table(cols)
    print("replay (Arrow table, 65536-row batches; goal G16 >= 5M for filter/window/count):")
    for name in WORKLOADS:
        runs = []
        for _ in range(3):
            plan = compile_rules(WORKLOADS[name]())
            t0 = time.process_time()
            plan.replay("sensors", table)
            runs.append(args.events / (time.process_time() - t0))
        print(f"  {name:<10} {statistics.median(runs):>12,.0f}")
    _print_per_event()
    print(f"state: {_state_bytes():.1f} B per retained event (goal <= 64)")


if __name__ == "__main__":
    main()
