"""The broker contract every streaming source/publisher pair passes (Redis Streams, NATS
JetStream, Kafka on Tansu, MQTT, the in-process broker). Subclass :class:`BrokerContract`
and provide a ``broker`` fixture returning a :class:`BrokerUnderTest`; each test uses its
own stream/topic names (``broker.fresh()``), so parallel runs do not collide.

What it checks: publish then consume in a group (order kept), ack, lag, many events per
message (Arrow IPC and msgpack batches) and one event per message, redelivery of what was
read but not acked after the consumer restarts, two consumers of one group splitting the
stream with no duplicates, and ``publish`` to an unreachable broker failing clearly.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from loopml.streaming.io import codec
from loopml.streaming.io._base import Message, Publisher, Source


@dataclass
class BrokerUnderTest:
    """``publisher(stream)`` and ``source(stream, group, consumer)`` build clients;
    ``redelivers``: unacked messages come back after a restart of the consumer (False
    for brokers that cannot, documented per backend); ``splits``: a group's consumers
    share the stream; ``restart_wait_s``: how long the broker takes to hand unacked
    messages to a restarted consumer."""

    publisher: Callable[[str], Publisher]
    source: Callable[[str, str, str], Source]
    redelivers: bool = True
    splits: bool = True
    has_lag: bool = True
    restart_wait_s: float = 0.0
    prefix: str = "lmtest"

    def fresh(self) -> str:
        return f"{self.prefix}-{uuid.uuid4().hex[:10]}"


def drain(src: Source, n: int, deadline_s: float = 20.0, ack: bool = True) -> list[Message]:
    """Read until ``n`` messages came (or the deadline); ack them when ``ack``."""
    out: list[Message] = []
    end = time.monotonic() + deadline_s
    while len(out) < n and time.monotonic() < end:
        got = src.read(n - len(out), 0.5)
        if got and ack:
            src.ack(got)
        out.extend(got)
    return out


class BrokerContract:
    def test_publish_consume_ack_in_order(self, broker: BrokerUnderTest) -> None:
        s = broker.fresh()
        pub, src = broker.publisher(s), broker.source(s, "g", "c1")
        try:
            pub.publish([codec.encode({"i": i, "v": float(i)}) for i in range(50)])
            got = drain(src, 50)
            assert [codec.decode(m.payload)[0]["i"] for m in got] == list(range(50))  # type: ignore[index]
            assert all(m.id for m in got) and len({m.id for m in got}) == 50
            if broker.has_lag:
                assert src.lag() in (0, None)
            assert drain(src, 1, deadline_s=1.0) == []  # acked: nothing more
        finally:
            src.close()
            pub.close()

    def test_many_events_per_message(self, broker: BrokerUnderTest) -> None:
        s = broker.fresh()
        pub, src = broker.publisher(s), broker.source(s, "g", "c1")
        try:
            table = pa.table({"m": ["a"] * 500, "v": [float(i) for i in range(500)], "ts": list(range(500))})
            pub.publish([codec.encode(table, "arrow"), codec.encode(table, "msgpack"),
                         codec.encode(table.slice(0, 3).to_pylist(), "json")])
            got = drain(src, 3)
            counts = [codec.count(codec.decode(m.payload)) for m in got]
            assert counts == [500, 500, 3]
            arrow = codec.decode(got[0].payload)
            assert isinstance(arrow, pa.Table) and arrow.column("v").to_pylist()[-1] == 499.0
        finally:
            src.close()
            pub.close()

    def test_unacked_messages_come_back_after_a_restart(self, broker: BrokerUnderTest) -> None:
        if not broker.redelivers:
            return
        s = broker.fresh()
        pub = broker.publisher(s)
        src = broker.source(s, "g", "c1")
        try:
            pub.publish([codec.encode({"i": i}) for i in range(10)])
            first = drain(src, 10, ack=False)
            assert len(first) == 10
            src.close()  # a crash: nothing acked
            time.sleep(broker.restart_wait_s)
            src = broker.source(s, "g", "c1")
            again = drain(src, 10, deadline_s=30.0)
            assert sorted(codec.decode(m.payload)[0]["i"] for m in again) == list(range(10))  # type: ignore[index]
        finally:
            src.close()
            pub.close()

    def test_consumers_of_one_group_split_the_stream(self, broker: BrokerUnderTest) -> None:
        if not broker.splits:
            return
        s = broker.fresh()
        pub = broker.publisher(s)
        a, b = broker.source(s, "g", "c1"), broker.source(s, "g", "c2")
        try:
            pub.publish([codec.encode({"i": i}) for i in range(200)])
            seen: list[Any] = []
            end = time.monotonic() + 30
            while len(seen) < 200 and time.monotonic() < end:
                for src in (a, b):
                    got = src.read(20, 0.2)
                    src.ack(got)
                    seen.extend(codec.decode(m.payload)[0]["i"] for m in got)  # type: ignore[index]
            assert sorted(seen) == list(range(200))  # none lost, none twice
        finally:
            a.close()
            b.close()
            pub.close()


__all__ = ["BrokerContract", "BrokerUnderTest", "drain"]
