"""kill -9 of a worker under load, then another worker takes over (Redis Streams): no
event lost, no alert written twice (research/streaming.md G11). 2 cycles in the default
run, 20 under ``-m slow``."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import msgpack
import pytest
import yaml

from loopml.streaming.io import codec
from tests.streaming.io.conftest import service

URL = "redis://127.0.0.1:6379/0"
PER_MESSAGE = 100


def _app(tmp: Path, raw: str, alerts: str) -> Path:
    # A taken-over message is older than what the new worker has seen: the lateness must
    # cover it, or its events go to `late` instead of raising alerts.
    rules = {"app": "dur", "time": {"lateness": "1h"}, "sources": {"s": {"key": "m", "event_time": "ts",
                                             "schema": {"m": "str", "i": "int64", "flag": "int64", "ts": "int64"}}},
             "sinks": {"alerts": {"to": "redis://", "key": ["i"]}},
             "rules": [{"name": "flagged", "from": "s", "where": "flag == 1", "select": ["m", "i"],
                        "emit": {"to": "alerts"}}]}
    (tmp / "rules.yaml").write_text(yaml.safe_dump(rules))
    app = {"app": f"dur-{raw}", "rules": "rules.yaml",
           # claim_idle well above a batch's time on a loaded machine: shorter, and live workers
           # take messages from each other until max_deliveries sends them to the dead letters.
           "sources": {"s": {"url": URL, "stream": raw, "claim_idle": 3000, "max_deliveries": 50,
                             "batch": {"max_messages": 20, "max_wait": 20}}},
           "sinks": {"alerts": {"kind": "redis", "url": URL, "stream": alerts}}}
    (tmp / "app.yaml").write_text(yaml.safe_dump(app))
    return tmp / "app.yaml"


def _worker(app: Path, name: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "loopml", "stream", "run", str(app), "--consumer", name],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def kill_cycles(tmp: Path, cycles: int, min_messages: int = 200, max_messages: int = 100_000) -> None:
    from loopml.streaming.io.redis_streams import RedisStreamPublisher, connect

    r = connect(URL)
    tag = uuid.uuid4().hex[:8]
    raw, alerts = f"lmtest:dur:{tag}:raw", f"lmtest:dur:{tag}:alerts"
    app = _app(tmp, raw, alerts)
    rng = random.Random(7)
    flagged: set[int] = set()
    produced = [0]
    done = threading.Event()
    pub = RedisStreamPublisher(URL, raw)

    def produce() -> None:  # the load: keeps coming while workers die, until the kills are over
        k = 0
        while k < max_messages and not (done.is_set() and k >= min_messages):
            batch = []
            for _ in range(10):
                ids = list(range(k * PER_MESSAGE, (k + 1) * PER_MESSAGE))
                flags = [1 if rng.random() < 0.05 else 0 for _ in ids]
                flagged.update(i for i, f in zip(ids, flags, strict=True) if f)
                batch.append(codec.encode({"m": [f"m{i % 7}" for i in ids], "i": ids, "flag": flags, "ts": ids}))
                k += 1
            pub.publish(batch)
            produced[0] = k
            time.sleep(0.05)  # ~20k events/s offered

    producer = threading.Thread(target=produce)
    producer.start()

    def joined(name: str) -> bool:
        try:
            return any(c["name"].decode() == name and c["pending"] > 0 for c in r.xinfo_consumers(raw, f"dur-{raw}"))
        except Exception:
            return False

    # Up to three workers are up at once: the next ones start while the victim works, so a
    # start-up (seconds on a loaded machine) does not stall each cycle.
    names = [f"w{i}" for i in range(min(3, cycles + 1))]
    live = [_worker(app, n) for n in names]
    started = len(names)
    try:
        for c in range(cycles):
            victim, name = live.pop(0), names.pop(0)
            end = time.monotonic() + 60
            while not joined(name) and time.monotonic() < end:  # it holds unacked messages
                if victim.poll() is not None:
                    pytest.fail(f"worker died: {victim.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.2))
            os.kill(victim.pid, signal.SIGKILL)  # mid-batch, mid-write or mid-ack
            victim.wait()
            if len(live) < min(3, cycles - c):  # one must outlive the last kill
                names.append(f"w{started}")
                live.append(_worker(app, names[-1]))
                started += 1
        done.set()
        producer.join()
        end = time.monotonic() + 600
        drained = False
        while not drained and time.monotonic() < end:
            g = {k.decode() if isinstance(k, bytes) else k: v for k, v in r.xinfo_groups(raw)[0].items()}
            drained = g["pending"] == 0 and g.get("lag") == 0 and r.xlen(raw) == produced[0]
            time.sleep(0.1)
        assert drained, f"the workers did not finish the backlog in time: {g}"  # slow, not lost
        for w in live:
            w.send_signal(signal.SIGTERM)
        for w in live:
            assert w.wait(30) == 0, w.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        got = [msgpack.unpackb(f[b"d"])["i"] for _id, f in r.xrange(alerts)]
        assert len(got) == len(set(got)), f"{len(got) - len(set(got))} duplicate alerts"
        assert set(got) == flagged, f"{len(flagged - set(got))} alerts lost"
    finally:
        done.set()
        producer.join()
        for w in live:
            if w.poll() is None:
                w.kill()
        r.delete(raw, alerts, f"{raw}.dlq", f"{raw}:owner:dur-{raw}")
        for k in r.scan_iter(f"{alerts}:dedup:*", count=5000):
            r.delete(k)


def test_kill9_two_cycles(tmp_path: Path) -> None:
    service(6379, "Redis")
    kill_cycles(tmp_path, cycles=2, max_messages=600)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 20 worker start-ups: seconds each on a loaded 2-core machine
def test_kill9_twenty_cycles(tmp_path: Path) -> None:
    service(6379, "Redis")
    kill_cycles(tmp_path, cycles=20, max_messages=4_000)
