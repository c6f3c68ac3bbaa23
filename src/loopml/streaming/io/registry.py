"""Sources and publishers by URL scheme, and the built-in sink kinds.

===========  ==========================  ===================================
scheme       broker                      ``stream`` names
===========  ==========================  ===================================
``redis``    Redis Streams (default)     the stream key
``nats``     NATS JetStream              the subject (stream = subject, ``.`` -> ``_``)
``kafka``    Kafka (``kafka://h:port``)  the topic
``mqtt``     MQTT 5 (QoS 1)              the topic
``memory``   in-process (:mod:`.memory`) the stream name
===========  ==========================  ===================================

Sink kinds (``SINK_KINDS``): ``memory``, ``redis`` (idempotent stream), ``publish`` (one
message per row to any broker above; the row's ``payload`` column when it has one, else the
row as msgpack) and ``webhook`` (signed, :mod:`loopml.monitoring.webhooks`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

import msgpack
import pyarrow as pa

from loopml.errors import InvalidConfig
from loopml.streaming.io._base import KEY, Publisher, Source, body, register_sink, row_keys
from loopml.streaming.io.memory import MemoryBroker, MemorySink

SCHEMES = ("redis", "rediss", "nats", "kafka", "mqtt", "memory")


def _scheme(url: str) -> str:
    from loopml._config import suggest

    scheme = urlparse(url).scheme
    if scheme not in SCHEMES:
        raise InvalidConfig(f"unknown broker URL scheme {scheme!r} in {url!r}{suggest(scheme, SCHEMES)}")
    return scheme


def _kafka_bootstrap(url: str) -> str:
    u = urlparse(url)
    return f"{u.hostname or '127.0.0.1'}:{u.port or 9092}"


def open_source(url: str, stream: str, group: str, consumer: str, *, app: str = "",
                claim_idle_ms: int = 30_000, name: str | None = None,
                memory: MemoryBroker | None = None) -> Source:
    """A consumer of ``stream`` in ``group`` on the broker at ``url``."""
    scheme = _scheme(url)
    if scheme in ("redis", "rediss"):
        from loopml.streaming.io.redis_streams import RedisStreamSource

        return RedisStreamSource(url, stream, group, consumer, app=app, claim_idle_ms=claim_idle_ms,
                                 claim_every_s=max(0.1, claim_idle_ms / 3000), name=name)
    if scheme == "nats":
        from loopml.streaming.io.nats_jetstream import NatsSource

        return NatsSource(url, stream, group, consumer, app=app, ack_wait_s=claim_idle_ms / 1000, name=name)
    if scheme == "kafka":
        from loopml.streaming.io.kafka import KafkaSource

        return KafkaSource(_kafka_bootstrap(url), stream, group, consumer, name=name)
    if scheme == "mqtt":
        from loopml.streaming.io.mqtt import MqttSource

        return MqttSource(url, stream, group, consumer, name=name)
    if memory is None:
        raise InvalidConfig("a memory:// source needs the MemoryBroker passed to the worker (brokers=...)")
    src = memory.source(stream, group, consumer)
    src.name = name or stream
    return src


def open_publisher(url: str, stream: str, *, memory: MemoryBroker | None = None) -> Publisher:
    """A publisher to ``stream`` on the broker at ``url``."""
    scheme = _scheme(url)
    if scheme in ("redis", "rediss"):
        from loopml.streaming.io.redis_streams import RedisStreamPublisher

        return RedisStreamPublisher(url, stream)
    if scheme == "nats":
        from loopml.streaming.io.nats_jetstream import NatsPublisher

        return NatsPublisher(url, stream)
    if scheme == "kafka":
        from loopml.streaming.io.kafka import KafkaPublisher

        return KafkaPublisher(_kafka_bootstrap(url), stream)
    if scheme == "mqtt":
        from loopml.streaming.io.mqtt import MqttPublisher

        return MqttPublisher(url, stream)
    if memory is None:
        raise InvalidConfig("a memory:// publisher needs the MemoryBroker passed to the worker (brokers=...)")
    return memory.publisher(stream)


class PublishSink:
    """Sink kind ``publish``: ``{kind: publish, url: mqtt://127.0.0.1:1883, stream: line3/cmd}``.
    One message per row: its ``payload`` column (text, e.g. a command) when there is one,
    else the row as msgpack. Publishing is at-least-once; the row keys go along as message
    ids (JetStream drops duplicates by them; other brokers' consumers de-duplicate)."""

    def __init__(self, name: str, publisher: Publisher) -> None:
        self.name, self.publisher = name, publisher

    def write(self, table: pa.Table, offsets: Mapping[str, str]) -> None:
        if not table.num_rows:
            return
        ids = row_keys(table) if KEY in table.column_names else None
        if "payload" in table.column_names:
            msgs = [str(p).encode() for p in table.column("payload").to_pylist()]
        else:
            msgs = [msgpack.packb(r, default=str) for r in body(table).to_pylist()]
        self.publisher.publish(msgs, ids=ids)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.publisher.close()


class WebhookSink:
    """Sink kind ``webhook``: ``{kind: webhook, url: ..., secret: ${secret:NAME}, allow:
    [127.0.0.1]}``. One signed POST per row (the body: the row, with ``id`` = its row key,
    which a receiver uses to drop a redelivered duplicate), by
    :func:`loopml.monitoring.webhooks.deliver` (HMAC-SHA256 signature, retries with
    backoff, SSRF guard). A delivery that still fails raises, so the batch is not acked."""

    def __init__(self, name: str, spec: Mapping[str, Any]) -> None:
        from loopml.monitoring.webhooks import Webhook

        self.name = name
        self.hook = Webhook(url=str(spec["url"]), secret=str(spec["secret"]), allow=list(spec.get("allow", [])),
                            max_attempts=int(spec.get("max_attempts", 5)))
        self.delivered = 0

    def write(self, table: pa.Table, offsets: Mapping[str, str]) -> None:
        from loopml.monitoring.webhooks import deliver
        from loopml.streaming.io._base import BrokerUnavailable

        ids: Sequence[str | None] = row_keys(table) if KEY in table.column_names else [None] * table.num_rows
        for rid, row in zip(ids, body(table).to_pylist(), strict=True):
            d = deliver(self.hook, {"id": rid, "sink": self.name, **row})
            if not d.ok:
                raise BrokerUnavailable(f"webhook sink {self.name!r}: delivery failed after {d.attempts} "
                                        f"attempt(s): {d.error or d.status}")
            self.delivered += 1

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def _need(spec: Mapping[str, Any], kind: str, *keys: str) -> None:
    missing = [k for k in keys if not spec.get(k)]
    if missing:
        raise InvalidConfig(f"a {kind!r} sink needs {', '.join(missing)}")


def _redis_sink(name: str, spec: Mapping[str, Any]) -> Any:
    from loopml.streaming.io.redis_streams import RedisStreamSink

    _need(spec, "redis", "url")
    return RedisStreamSink(name, str(spec["url"]), str(spec.get("stream") or name))


def _publish_sink(name: str, spec: Mapping[str, Any]) -> PublishSink:
    _need(spec, "publish", "url", "stream")
    return PublishSink(name, open_publisher(str(spec["url"]), str(spec["stream"]), memory=spec.get("memory")))


def _webhook_sink(name: str, spec: Mapping[str, Any]) -> WebhookSink:
    _need(spec, "webhook", "url", "secret")
    return WebhookSink(name, spec)


def _memory_sink(name: str, spec: Mapping[str, Any]) -> MemorySink:
    return MemorySink(name, spec)


register_sink("memory", _memory_sink)
register_sink("redis", _redis_sink)
register_sink("publish", _publish_sink)
register_sink("webhook", _webhook_sink)

__all__ = ["SCHEMES", "PublishSink", "WebhookSink", "open_publisher", "open_source"]
