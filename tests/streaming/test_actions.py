"""Actions out of the stream: signed webhooks, publishing to a broker, and a Redis that is
full (OOM replies: shed per the overflow policy and count)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import orjson
import pyarrow as pa
import pytest

from loopml.monitoring.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from loopml.streaming.io import SINK_KINDS, BrokerFull, codec
from loopml.streaming.io.memory import MemoryBroker
from loopml.testing.broker_contract import drain
from tests.streaming.test_worker import RULES, app, events, run_until

SECRET = "s3cret"


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    got: list[tuple[dict[str, str], bytes]] = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            got.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", got
    server.shutdown()


def test_alerts_to_a_signed_webhook_and_a_broker(receiver: Any) -> None:
    url, got = receiver
    b = MemoryBroker()
    b.publisher("raw").publish([codec.encode(events(0, 20))])
    rules = {**RULES, "sinks": {**RULES["sinks"], "plc": {"to": "mqtt://", "key": ["m", "_time"]}}}
    rules["rules"] = [*RULES["rules"], {"name": "stop", "from": "hot", "where": "temp > 98",
                                        "emit": {"to": "plc", "payload": {"cmd": "stop", "machine": "{m}"}}}]
    w = app(rules=rules, sinks={"alerts": {"kind": "webhook", "url": url, "secret": SECRET, "allow": ["127.0.0.1"]},
                                "plc": {"kind": "publish", "url": "memory://b", "stream": "cmd"}})
    from loopml.streaming.worker import StreamWorker

    worker = StreamWorker(w, brokers={"b": b}, consumer="w1")
    run_until(worker, lambda: worker.batches >= 1)
    worker.close()
    assert len(got) == 8  # temp 96..99 for 20 events
    headers, body = got[0]
    assert verify_signature(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    row = orjson.loads(body)
    assert row["id"] == "m0|6" and row["severity"] == "high" and row["temp"] == 96.0
    cmds = drain(b.source("cmd", "plc", "p"), 2, deadline_s=1)
    assert [orjson.loads(m.payload) for m in cmds] == [{"cmd": "stop", "machine": "m0"}, {"cmd": "stop", "machine": "m1"}]


@pytest.fixture(scope="module")
def full_redis() -> Iterator[str]:
    """A private redis-server with maxmemory 1 MB (the shared one is left alone)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--maxmemory", "1500kb", "--maxmemory-policy", "noeviction"],
                            stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    from loopml.streaming.io.redis_streams import connect

    connect(url, attempts=8)
    yield url
    proc.terminate()
    proc.wait(5)


def test_a_full_redis_sheds_per_policy_and_counts(full_redis: str) -> None:
    from loopml.streaming.io.redis_streams import RedisStreamPublisher, connect
    from loopml.streaming.worker import StreamWorker

    r = connect(full_redis)
    pub = RedisStreamPublisher(full_redis, "filler")
    with pytest.raises(BrokerFull, match="out of memory"):
        for _ in range(200):
            pub.publish([b"x" * 10_000] * 10)
    sink = SINK_KINDS["redis"]("alerts", {"url": full_redis, "stream": "alerts"})
    t = pa.table({"m": ["a"], "_key": ["a"]})
    with pytest.raises(BrokerFull):
        sink.write(t, {"s": "1"})
    b = MemoryBroker()
    b.publisher("raw").publish([codec.encode(events(0, 20))])
    spec = app(sources={"sensors": {"url": "memory://b", "stream": "raw", "overflow": "shed_oldest"}},
               sinks={"alerts": {"kind": "redis", "url": full_redis, "stream": "alerts"}})
    w = StreamWorker(spec, brokers={"b": b}, consumer="w1")
    run_until(w, lambda: w.batches >= 1)
    w.close()
    assert w.metrics.value("loopml_stream_dropped_total", source="sensors", reason="broker_full") == 8
    assert b.pending[("raw", "line3")] == {}  # shed on purpose: acked, not retried forever
    r.close()


def test_an_unreachable_broker_fails_clearly_after_backoff() -> None:
    from loopml.streaming.io import BrokerUnavailable
    from loopml.streaming.worker import StreamWorker

    spec = app(sources={"sensors": {"url": "redis://127.0.0.1:1/0", "stream": "raw"}})
    t0 = time.monotonic()
    with pytest.raises(BrokerUnavailable, match=r"cannot reach Redis at redis://127.0.0.1:1/0 after 5 attempts"):
        StreamWorker(spec, consumer="w1").start()
    assert time.monotonic() - t0 > 1.0  # backoff between the attempts, not a busy loop
