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
from loopml.streaming._workloads import WORKLOADS, batches, rule_sliding, trace
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


def _per_event(n: int) -> dict[str, Any]:
    cols = trace(n)
    rows = [{k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in cols.items()} for i in range(n)]
    plan = compile_rules(rule_sliding())
    mb = MicroBatcher(plan, "sensors", lambda out: None, max_events=1, max_delay_ms=0.0)
    lat = []
    t0 = time.process_time()
    for r in rows:
        s = time.process_time()
        mb.push(r)
        lat.append(time.process_time() - s)
    total = time.process_time() - t0
    return {"eps": n / total, "p99_ms": float(np.percentile(lat, 99)) * 1e3}


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
    args = ap.parse_args()
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
    pe = _per_event(20_000)
    print(f"{'per-event':<10} {pe['eps']:>12,.0f} {200_000:>10,}  {'yes' if pe['eps'] >= 2e5 else 'NO'}"
          f"  (p99 {pe['p99_ms']:.3f} ms per event, sliding window rule)")
    print(f"state: {_state_bytes():.1f} B per retained event (goal <= 64)")


if __name__ == "__main__":
    main()
