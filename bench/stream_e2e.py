"""Streaming apps on Redis Streams: loopml against a plain redis-py loop doing the same work
(the floor: what the client library alone allows), same run, median of 3 (research note
streaming.md section 7, G10 and G13).

    PYTHONPATH=src:. python bench/stream_e2e.py [--events 2000000] [--e2e-events 500000]

A private ``redis-server`` (``--save "" --appendonly no``) on a free loopback port; every
producer and consumer is its own process.

1. Transport (G10, goal >= 1M events/s each way): 500 events per entry as Arrow IPC.
   Produce: loopml ``RedisStreamPublisher`` vs redis-py pipelined ``XADD``.
   Consume+ack: loopml ``RedisStreamSource`` (read, decode, ack) vs redis-py
   ``XREADGROUP`` + Arrow decode + ``XACK``.
2. End to end (G13): a pre-filled stream -> a rule (``flag == 1``: 1% of events) -> an
   alerts stream: loopml's ``StreamWorker`` (idempotent alerts sink, ack after write) vs a
   redis-py loop (XREADGROUP, decode, numpy filter, pipelined XADD of the alerts, XACK;
   no idempotence). Then event -> alert latency at 20k events/s offered (100 events every
   5 ms from a producer process): p50/p99 from the event's send time to the alert read back.

The machine is shared (2 cores, other engineers' jobs): figures vary between runs; the
ratio, measured in the same run, is the number to read.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
os.environ.setdefault("OMP_NUM_THREADS", "1")

from loopml.streaming.io import codec  # noqa: E402

PER_ENTRY = 500


def start_redis() -> tuple[str, subprocess.Popen[bytes]]:
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    from loopml.streaming.io.redis_streams import connect

    connect(url, attempts=10)
    return url, proc


def entry(k: int, alert_rate: float = 0.01, t_ns: int = 0) -> bytes:
    rng = np.random.default_rng(k)
    ids = np.arange(k * PER_ENTRY, (k + 1) * PER_ENTRY, dtype=np.int64)
    return codec.encode(pa.table({"m": pa.array([f"m{i % 50}" for i in range(PER_ENTRY)]), "i": ids,
                                  "v": rng.random(PER_ENTRY), "flag": (rng.random(PER_ENTRY) < alert_rate).astype(np.int64),
                                  "ts": ids, "sent_ns": np.full(PER_ENTRY, t_ns, np.int64)}), "arrow")


# ---- 1. transport ---------------------------------------------------------------------------
def produce(kind: str, url: str, stream: str, payloads: list[bytes], out: Any) -> None:
    import redis

    from loopml.streaming.io.redis_streams import RedisStreamPublisher

    t0 = time.perf_counter()
    if kind == "loopml":
        pub = RedisStreamPublisher(url, stream)
        for i in range(0, len(payloads), 100):
            pub.publish(payloads[i:i + 100])
    else:
        r = redis.Redis.from_url(url)
        for i in range(0, len(payloads), 100):
            pipe = r.pipeline(transaction=False)
            for p in payloads[i:i + 100]:
                pipe.xadd(stream, {b"d": p})
            pipe.execute()
    out.put(time.perf_counter() - t0)


def consume(kind: str, url: str, stream: str, entries: int, out: Any) -> None:
    import pyarrow.ipc as ipc
    import redis

    from loopml.streaming.io.redis_streams import RedisStreamSource

    events = 0
    t0 = time.perf_counter()
    if kind == "loopml":
        src = RedisStreamSource(url, stream, "g", "c")
        got = 0
        while got < entries:
            msgs = src.read(100, 1.0)
            for m in msgs:
                events += codec.count(codec.decode(m.payload, "arrow"))
            src.ack(msgs)
            got += len(msgs)
    else:
        r = redis.Redis.from_url(url)
        r.xgroup_create(stream, "g", id="0", mkstream=True)
        got = 0
        while got < entries:
            resp = r.xreadgroup("g", "c", {stream: ">"}, count=100, block=1000)
            ids = []
            for _s, rows in resp or []:
                for mid, fields in rows:
                    events += ipc.open_stream(pa.py_buffer(fields[b"d"])).read_all().num_rows
                    ids.append(mid)
            if ids:
                r.xack(stream, "g", *ids)
            got += len(ids)
    out.put((time.perf_counter() - t0, events))


def transport(url: str, n_events: int) -> dict[str, list[float]]:
    entries = n_events // PER_ENTRY
    payloads = [entry(k) for k in range(min(entries, 200))]
    payloads = (payloads * (entries // len(payloads) + 1))[:entries]
    res: dict[str, list[float]] = {f"{w} {k}": [] for w in ("produce", "consume") for k in ("loopml", "redis-py")}
    q: Any = mp.get_context("fork").Queue()
    for _run in range(3):
        for kind in ("loopml", "redis-py"):
            stream = f"t:{uuid.uuid4().hex[:8]}"
            p = mp.get_context("fork").Process(target=produce, args=(kind, url, stream, payloads, q))
            p.start()
            p.join()
            res[f"produce {kind}"].append(n_events / q.get())
            c = mp.get_context("fork").Process(target=consume, args=(kind, url, stream, entries, q))
            c.start()
            c.join()
            secs, events = q.get()
            assert events == entries * PER_ENTRY
            res[f"consume {kind}"].append(events / secs)
            _drop(url, stream)
    return res


def _drop(url: str, *keys: str) -> None:
    import redis

    r = redis.Redis.from_url(url)
    r.delete(*keys)
    for k in r.scan_iter(f"{keys[-1]}*", count=10_000):
        r.delete(k)


# ---- 2. end to end --------------------------------------------------------------------------
RULES = {"app": "bench", "time": {"lateness": "1h"},
         "sources": {"s": {"key": "m", "event_time": "ts",
                           "schema": {"m": "str", "i": "int64", "v": "float64", "flag": "int64", "ts": "int64",
                                      "sent_ns": "int64"}}},
         "sinks": {"alerts": {"to": "redis://", "key": ["i"]}},
         "rules": [{"name": "alert", "from": "s", "where": "flag == 1", "select": ["m", "i", "v", "sent_ns"],
                    "emit": {"to": "alerts"}}]}


def loopml_worker(url: str, raw: str, alerts: str, ready: Any, stop: Any) -> None:
    from loopml.streaming.appfile import AppFile
    from loopml.streaming.worker import StreamWorker

    app = AppFile.model_validate({"app": "bench-" + raw, "rules": RULES,
                                  "sources": {"s": {"url": url, "stream": raw, "max_in_flight": 2,
                                                    "batch": {"max_messages": 20, "max_wait": 2}}},
                                  "sinks": {"alerts": {"kind": "redis", "url": url, "stream": alerts}}})
    w = StreamWorker(app, consumer="w")
    w.start()
    ready.set()
    w.run(until=stop.is_set)
    w.close()


def redispy_worker(url: str, raw: str, alerts: str, ready: Any, stop: Any) -> None:
    import msgpack
    import pyarrow.ipc as ipc
    import redis

    r = redis.Redis.from_url(url)
    with contextlib.suppress(redis.ResponseError):
        r.xgroup_create(raw, "g", id="0", mkstream=True)
    pc.equal(pa.array([1]), 1)  # lazy imports paid before the first event, as loopml's worker does
    ready.set()
    while not stop.is_set():
        resp = r.xreadgroup("g", "c", {raw: ">"}, count=20, block=2)
        if not resp:
            continue
        pipe = r.pipeline(transaction=False)
        ids = []
        for _s, rows in resp:
            for mid, fields in rows:
                t = ipc.open_stream(pa.py_buffer(fields[b"d"])).read_all()
                hit = t.filter(pc.equal(t.column("flag"), 1)).select(["m", "i", "v", "sent_ns"])
                for row in hit.to_pylist():
                    pipe.xadd(alerts, {b"d": msgpack.packb(row)})
                ids.append(mid)
        pipe.xack(raw, "g", *ids)
        pipe.execute()


def _group_done(r: Any, raw: str, entries: int) -> bool:
    gs = r.xinfo_groups(raw)
    return bool(gs) and gs[0]["pending"] == 0 and gs[0].get("lag") == 0 and r.xlen(raw) >= entries


def e2e_throughput(url: str, kind: str, n_events: int) -> float:
    import redis

    r = redis.Redis.from_url(url)
    raw, alerts = f"e:{uuid.uuid4().hex[:8]}", f"a:{uuid.uuid4().hex[:8]}"
    entries = n_events // PER_ENTRY
    pipe = r.pipeline(transaction=False)
    for k in range(entries):
        pipe.xadd(raw, {b"d": entry(k)})
    pipe.execute()
    ctx = mp.get_context("fork")
    ready, stop = ctx.Event(), ctx.Event()
    p = ctx.Process(target=loopml_worker if kind == "loopml" else redispy_worker, args=(url, raw, alerts, ready, stop))
    p.start()
    ready.wait(120)
    t0 = time.perf_counter()  # from the worker's first read (start-up excluded for both)
    while not _group_done(r, raw, entries):
        time.sleep(0.005)
    secs = time.perf_counter() - t0
    stop.set()
    p.join(30)
    _drop(url, raw, alerts)
    return n_events / secs


def paced_producer(url: str, raw: str, rate: int, seconds: float) -> None:
    from loopml.streaming.io.redis_streams import RedisStreamPublisher

    pub = RedisStreamPublisher(url, raw)
    per = 100
    interval = per / rate
    start = time.perf_counter()
    k = 0
    while time.perf_counter() - start < seconds:
        due = start + k * interval
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        ids = np.arange(k * per, (k + 1) * per, dtype=np.int64)
        flag = (ids % 100 == 7).astype(np.int64)  # 1% alerts
        pub.publish([codec.encode(pa.table({"m": [f"m{i % 50}" for i in range(per)], "i": ids, "v": np.zeros(per),
                                            "flag": flag, "ts": ids,
                                            "sent_ns": np.full(per, time.time_ns(), np.int64)}), "arrow")])
        k += 1


def e2e_latency(url: str, kind: str, rate: int = 20_000, seconds: float = 6.0) -> tuple[float, float]:
    import msgpack
    import redis

    r = redis.Redis.from_url(url)
    raw, alerts = f"l:{uuid.uuid4().hex[:8]}", f"la:{uuid.uuid4().hex[:8]}"
    ctx = mp.get_context("fork")
    ready, stop = ctx.Event(), ctx.Event()
    w = ctx.Process(target=loopml_worker if kind == "loopml" else redispy_worker, args=(url, raw, alerts, ready, stop))
    w.start()
    ready.wait(120)
    prod = ctx.Process(target=paced_producer, args=(url, raw, rate, seconds))
    prod.start()
    lat: list[float] = []
    last = "0-0"  # the alerts stream is new: read it from its start
    end = time.monotonic() + seconds + 3
    while time.monotonic() < end:
        resp = r.xread({alerts: last}, count=1000, block=100)
        now = time.time_ns()
        for _s, rows in resp or []:
            for mid, fields in rows:
                lat.append((now - msgpack.unpackb(fields[b"d"])["sent_ns"]) / 1e6)
                last = mid
    prod.join()
    stop.set()
    w.join(30)
    _drop(url, raw, alerts)
    if not lat:
        return float("nan"), float("nan")
    a = np.array(lat[len(lat) // 10:])  # the first second is warm-up
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2_000_000, help="events per transport run")
    ap.add_argument("--e2e-events", type=int, default=500_000, help="events per end-to-end run")
    ap.add_argument("--skip-latency", action="store_true")
    args = ap.parse_args()
    url, server = start_redis()
    try:
        print(f"Redis Streams transport, {PER_ENTRY} events per entry (Arrow IPC), median of 3, events/s:")
        res = transport(url, args.events)
        for what in ("produce", "consume"):
            lo, peer = statistics.median(res[f"{what} loopml"]), statistics.median(res[f"{what} redis-py"])
            print(f"  {what:8s} loopml {lo:>12,.0f}   redis-py floor {peer:>12,.0f}   ratio {lo / peer:.2f}"
                  f"   goal >= 1,000,000: {'met' if lo >= 1e6 else 'NOT met'}")
        print("End to end (broker -> rule -> alerts stream, 1% alerts), median of 3, events/s:")
        e2e = {k: statistics.median(e2e_throughput(url, k, args.e2e_events) for _ in range(3))
               for k in ("loopml", "redis-py")}
        print(f"  loopml worker {e2e['loopml']:>10,.0f}   redis-py loop floor {e2e['redis-py']:>10,.0f}"
              f"   ratio {e2e['loopml'] / e2e['redis-py']:.2f}")
        if not args.skip_latency:
            print("Event -> alert latency at 20,000 events/s offered (100 events every 5 ms), median of 3 runs, ms:")
            for k in ("loopml", "redis-py"):
                runs = [e2e_latency(url, k) for _ in range(3)]
                p50 = statistics.median(x[0] for x in runs)
                p99 = statistics.median(x[1] for x in runs)
                print(f"  {k:8s} p50 {p50:7.1f}   p99 {p99:7.1f}   goal p99 <= 20: {'met' if p99 <= 20 else 'NOT met'}")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
