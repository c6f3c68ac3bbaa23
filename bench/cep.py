"""loopml CEP against Siddhi 5.1.7 embedded (the PySiddhi 5.1.0 wheel's jars), same run, same trace.

    PYTHONPATH=src:. python bench/cep.py [--events 500000] [--skip-per-event]

Workloads (research note streaming.md section 7, G1-G5), 50 keys, one event per ms:
filter, sliding 1 s avg/max by key, tumbling 1 s, count >= 3 within 10 s, A -> B within 10 s.
loopml runs the rules of ``loopml.streaming._workloads`` on 512-event batches; Siddhi runs the
equivalent SiddhiQL in-process through ``tests/streaming/siddhi/SiddhiHarness.java`` in
playback mode, once with ``InputHandler.send(Event)`` per event and once with
``send(Event[512])``. Each figure is the median of 3 runs after one warm-up run (Siddhi: in one
JVM, so JIT-compiled). The ratio column is loopml / Siddhi batched. ``--clock cpu`` (default)
divides by the CPU time of each process (Python: ``time.process_time``; the JVM: process CPU
time, JIT and GC threads included), which stays meaningful on a shared, loaded machine;
``--clock wall`` uses elapsed time. Then the per-event path
(loopml's MicroBatcher at batch size 1 on the sliding rule, with its p99 per event) against
Siddhi per event, and loopml's bytes of state per retained event. Needs java/javac and
pysiddhi; run on an idle machine for stable figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from tests.streaming.siddhi.oracle import build_oracle  # noqa: E402
from tests.streaming.siddhi.traces import StreamTable, Trace  # noqa: E402

from loopml.streaming import compile_rules  # noqa: E402
from loopml.streaming._workloads import WORKLOADS, batches, trace  # noqa: E402

DEFINE = "define stream S (machine string, temp double, fail int, ts long);\n"
SIDDHI = {
    "filter": "from S[temp > 100] select machine, temp, ts insert into Out;",
    "sliding": "from S#window.time(1 sec) select machine, avg(temp) as temp_avg, "
               "max(temp) as temp_max group by machine insert into Out;",
    "tumbling": "from S#window.timeBatch(1 sec, 0) select machine, avg(temp) as temp_avg, "
                "count() as n group by machine insert into Out;",
    "count": "partition with (machine of S) begin from S[fail == 1]#window.time(10 sec) "
             "select machine, ts, count() as n having n >= 3 insert into Out; end;",
    "sequence": "from every e1=S[fail == 1] -> e2=S[machine == e1.machine and fail == 1] "
                "within 10 sec select e1.machine as machine, e1.ts as t1, e2.ts as t2 insert into Out;",
}
GOALS = {"filter": (20e6, 2.5), "sliding": (2e6, 1.7), "tumbling": (3e6, None),
         "count": (5e6, 3.0), "sequence": (5e6, None)}


def loopml_rate(name: str, cols: dict[str, np.ndarray], clock: str) -> tuple[float, int]:
    """Median events/s of 3 runs (after a warm-up) and the output row count."""
    now = time.process_time if clock == "cpu" else time.perf_counter
    parts = list(batches(cols, 512))
    n = len(cols["ts"])
    runs, rows = [], 0
    for i in range(4):
        plan = compile_rules(WORKLOADS[name]())
        t0 = now()
        for source, b in parts:
            plan.push(source, b)
        out = plan.collect()
        dt = now() - t0
        rows = sum(t.num_rows for k, t in out.items() if k not in ("late", "dead_letter"))
        if i:
            runs.append(n / dt)
    return statistics.median(runs), rows


def siddhi_trace(cols: dict[str, np.ndarray]) -> Trace:
    schema = {"machine": "string", "temp": "double", "fail": "int", "ts": "long"}
    return Trace([StreamTable("S", schema, {k: cols[k] for k in schema})])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("--skip-per-event", action="store_true")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = ap.parse_args()
    cols = trace(args.events, keys=50, seed=1)
    oracle = build_oracle()
    strace = siddhi_trace(cols)
    n = args.events
    print(f"{n:,} events, 50 keys, 1 event/ms; median of 3 (after 1 warm-up); "
          f"events per {'CPU' if args.clock == 'cpu' else 'wall'} second")
    secs = "cpu_seconds" if args.clock == "cpu" else "seconds"
    head = (f"{'workload':<9} {'loopml ev/s':>12} {'Siddhi/event':>13} {'Siddhi/512':>12} "
            f"{'ratio':>6} {'goal':>18}  rows loopml/Siddhi")
    print(head)
    siddhi_per_event: dict[str, float] = {}
    for name in WORKLOADS:
        lm, lm_rows = loopml_rate(name, cols, args.clock)
        rates, rows = {}, 0
        for size in (1, 512):
            runs = oracle.bench(DEFINE + SIDDHI[name], strace, batch=size, warmup=1, repeat=3)
            rates[size] = statistics.median(r["events"] / r[secs] for r in runs)
            rows = int(runs[-1]["outputs"])
        siddhi_per_event[name] = rates[1]
        goal_eps, goal_ratio = GOALS[name]
        ratio = lm / rates[512]
        ok = lm >= goal_eps and (goal_ratio is None or ratio >= goal_ratio)
        goal = f">={goal_eps / 1e6:.0f}M" + (f", >={goal_ratio}x" if goal_ratio else "")
        print(f"{name:<9} {lm:>12,.0f} {rates[1]:>13,.0f} {rates[512]:>12,.0f} {ratio:>5.1f}x "
              f"{goal:>14} {'ok' if ok else 'NO':>3}  {lm_rows:,}/{rows:,}")
    if args.skip_per_event:
        return
    from cep_engine import _per_event, _state_bytes  # bench/cep_engine.py (loopml only)

    pe = _per_event(20_000)
    print(f"per-event path (sliding rule, MicroBatcher batch 1): loopml {pe['eps']:,.0f} ev/s, "
          f"p99 {pe['p99_ms']:.3f} ms per event; Siddhi send(Event) {siddhi_per_event['sliding']:,.0f} ev/s "
          f"(goal >= 200k ev/s)")
    print(f"state: {_state_bytes():.1f} B per retained event (goal <= 64)")


if __name__ == "__main__":
    main()
