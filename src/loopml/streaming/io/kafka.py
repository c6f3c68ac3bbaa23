"""Kafka (confluent-kafka / librdkafka). Tested against Tansu, a Kafka-compatible broker
(``loopml.testing.tansu``; how it differs from Kafka is listed there).

- :class:`KafkaSource`: a consumer in group ``group`` with auto-commit off; ``ack`` commits,
  per partition, the offset after the highest acked message (synchronously), so a crash
  re-reads everything not committed. Message ids are ``"partition:offset"``. Kafka does not
  count deliveries: ``deliveries`` is always 1. ``lag()``: high watermark minus position,
  summed over the assigned partitions. librdkafka's default session timeout makes a join
  take ~25 s on Tansu; ``session.timeout.ms=6000`` and ``heartbeat.interval.ms=1000`` bring
  it to ~3 s. Kafka has no owner for a group, so :class:`GroupOwned` is not detected here.
- :class:`KafkaPublisher`: the idempotent producer (``enable.idempotence``); ``publish``
  returns once every delivery report came back without error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loopml.streaming.io._base import BrokerUnavailable, Message
from loopml.streaming.io._retry import connect_with_retries

GROUP_DEFAULTS = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}


def ensure_topic(bootstrap: str, topic: str, partitions: int = 1, attempts: int = 5) -> None:
    """Create ``topic`` unless it exists (retried with backoff while the broker is down)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 2000})

    def create() -> None:
        try:
            md = admin.list_topics(timeout=3)
        except KafkaException as e:
            raise OSError(str(e)) from None
        if topic in md.topics:
            return
        fut = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic]
        try:
            fut.result(10)
        except KafkaException as e:
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise

    connect_with_retries(create, f"Kafka at {bootstrap}", attempts=attempts)


class KafkaSource:
    def __init__(self, bootstrap: str, topic: str, group: str, consumer: str, *,
                 partitions: int = 1, config: Mapping[str, Any] | None = None, name: str | None = None) -> None:
        from confluent_kafka import Consumer

        self.name = name or topic
        self.bootstrap, self.topic = bootstrap, topic
        ensure_topic(bootstrap, topic, partitions)
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": consumer,
                           "enable.auto.commit": False, "auto.offset.reset": "earliest",
                           **GROUP_DEFAULTS, **(config or {})})
        self.c.subscribe([topic])

    def read(self, max_messages: int, timeout_s: float) -> list[Message]:
        from confluent_kafka import KafkaError

        out: list[Message] = []
        for m in self.c.consume(num_messages=max_messages, timeout=timeout_s):
            err = m.error()
            if err is None:
                out.append(Message(f"{m.partition()}:{m.offset()}", m.value() or b"", 1, {}, m))
            elif err.code() == KafkaError._PARTITION_EOF:
                continue
            elif err.code() in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN):
                raise BrokerUnavailable(f"Kafka at {self.bootstrap}: {err.str()}")
            else:
                raise RuntimeError(f"Kafka consume error on {self.topic!r}: {err.str()}")
        return out

    def ack(self, messages: Sequence[Message]) -> None:
        from confluent_kafka import TopicPartition

        if not messages:
            return
        top: dict[int, int] = {}
        for m in messages:
            p, o = m.id.split(":")
            top[int(p)] = max(top.get(int(p), -1), int(o))
        self.c.commit(offsets=[TopicPartition(self.topic, p, o + 1) for p, o in top.items()], asynchronous=False)

    def lag(self) -> int | None:
        total = 0
        for tp in self.c.assignment():
            _low, high = self.c.get_watermark_offsets(tp, timeout=2)
            pos = self.c.position([tp])[0].offset
            total += max(0, high - pos) if pos >= 0 else high
        return total

    def close(self) -> None:
        self.c.close()


class KafkaPublisher:
    def __init__(self, bootstrap: str, topic: str, *, partitions: int = 1,
                 config: Mapping[str, Any] | None = None) -> None:
        from confluent_kafka import Producer

        self.bootstrap, self.topic = bootstrap, topic
        ensure_topic(bootstrap, topic, partitions)
        self.p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5,
                           **(config or {})})

    def publish(self, payloads: Sequence[bytes], ids: Sequence[str] | None = None) -> None:
        errors: list[str] = []

        def report(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        for i, p in enumerate(payloads):
            key = ids[i].encode() if ids else None
            while True:
                try:
                    self.p.produce(self.topic, p, key=key, on_delivery=report)
                    break
                except BufferError:  # the local queue is full: let deliveries drain
                    self.p.poll(0.05)
        left = self.p.flush(30)
        if left or errors:
            raise BrokerUnavailable(f"Kafka at {self.bootstrap} did not confirm {left} message(s) "
                                    f"on {self.topic!r}: {errors[:3]}")

    def close(self) -> None:
        self.p.flush(10)


__all__ = ["GROUP_DEFAULTS", "KafkaPublisher", "KafkaSource", "ensure_topic"]
