"""MQTT (paho-mqtt 2, MQTT 5, QoS 1): device ingress (research/streaming.md §3.3).

MQTT has no log: a message published while no session is subscribed is gone, and a
broker's full queue drops messages. So MQTT is the way in from devices, bridged into a
stream broker by :class:`MqttBridge`, which drops the duplicates QoS 1 allows.

- :class:`MqttSource`: a persistent session (``clean_start=False``, session expiry
  ``session_expiry_s``) subscribed at QoS 1 to ``$share/<group>/<topic>`` (MQTT 5 shared
  subscription: a group's consumers split the messages). PUBACK is sent only by ``ack``
  (paho ``manual_ack``), so a message read but not acked is redelivered by the broker when
  the consumer reconnects. Ids are ``"<client id>:<n>"`` (arrival order); ``lag()`` is None
  (MQTT cannot say).
- :class:`MqttPublisher`: QoS 1 publishes, returning once every PUBACK came back.

Mosquitto's defaults stall QoS 1 at high rates: run it with ``set_tcp_nodelay true`` and
``max_inflight_messages 1000`` (docs/streaming_apps.md).
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
import zlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

from loopml.streaming.io import codec
from loopml.streaming.io._base import BrokerUnavailable, Message, Publisher, Source
from loopml.streaming.io._retry import connect_with_retries


def _client(url: str, client_id: str, *, manual_ack: bool = False, clean: bool = True,
            session_expiry_s: int = 0, attempts: int = 5, on_message: Any = None) -> Any:
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    u = urlparse(url)
    host, port = u.hostname or "127.0.0.1", u.port or 1883
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=mqtt.MQTTv5, manual_ack=manual_ack)
    c.max_inflight_messages_set(1000)
    # Set before connecting: a resumed session's unacked messages arrive right after CONNACK.
    c.on_message = on_message
    props = Properties(PacketTypes.CONNECT)
    if session_expiry_s:
        props.SessionExpiryInterval = session_expiry_s
    connected = threading.Event()
    c.on_connect = lambda *_a: connected.set()
    connect_with_retries(lambda: c.connect(host, port, keepalive=30, clean_start=clean, properties=props),
                         f"MQTT broker at {url}", attempts=attempts)
    c.loop_start()
    if not connected.wait(10):
        c.loop_stop()
        raise BrokerUnavailable(f"MQTT broker at {url} accepted the TCP connection but sent no CONNACK")
    return c


class MqttSource:
    def __init__(self, url: str, topic: str, group: str, consumer: str, *,
                 session_expiry_s: int = 3600, name: str | None = None) -> None:
        self.name = name or topic
        # The session (and so redelivery) is per client id: one per (topic, group, consumer).
        self.client_id = f"{group}-{consumer}-{zlib.crc32(topic.encode()):08x}"
        self._q: queue.Queue[Any] = queue.Queue()
        self._n = itertools.count()
        self.c = _client(url, self.client_id, manual_ack=True, clean=False, session_expiry_s=session_expiry_s,
                         on_message=lambda _c, _u, msg: self._q.put(msg))
        subscribed = threading.Event()
        self.c.on_subscribe = lambda *_a: subscribed.set()
        self.c.subscribe(f"$share/{group}/{topic}", qos=1)
        if not subscribed.wait(10):
            raise BrokerUnavailable(f"MQTT broker at {url} did not confirm the subscription to {topic!r}")

    def read(self, max_messages: int, timeout_s: float) -> list[Message]:
        out: list[Message] = []
        try:
            first = self._q.get(timeout=max(timeout_s, 0.001))
        except queue.Empty:
            return out
        msgs = [first]
        while len(msgs) < max_messages:
            try:
                msgs.append(self._q.get_nowait())
            except queue.Empty:
                break
        for m in msgs:
            out.append(Message(f"{self.client_id}:{next(self._n)}", m.payload, 2 if m.dup else 1,
                               {"topic": m.topic}, m.mid))
        return out

    def ack(self, messages: Sequence[Message]) -> None:
        for m in messages:
            self.c.ack(m.token, 1)

    def lag(self) -> int | None:
        return None

    def close(self) -> None:
        # No DISCONNECT: the socket is dropped as a crash would drop it, so the broker keeps
        # the unacked messages for the next session. (A clean DISCONNECT lost them here once,
        # before the on_message race in _client was fixed; not re-checked since.)
        self.c.loop_stop()
        sock = self.c.socket()
        if sock is not None:
            sock.close()


class MqttPublisher:
    def __init__(self, url: str, topic: str, client_id: str = "") -> None:
        self.url, self.topic = url, topic
        self.c = _client(url, client_id)

    def publish(self, payloads: Sequence[bytes], ids: Sequence[str] | None = None) -> None:
        infos = [self.c.publish(self.topic, p, qos=1) for p in payloads]
        end = time.monotonic() + 30
        for info in infos:
            info.wait_for_publish(max(0.0, end - time.monotonic()))
            if not info.is_published():
                raise BrokerUnavailable(f"MQTT broker at {self.url} did not PUBACK a message on {self.topic!r}")

    def close(self) -> None:
        self.c.disconnect()  # first: it wakes the network loop, so loop_stop returns at once
        self.c.loop_stop()


class MqttBridge:
    """Moves device events from an MQTT source to a stream publisher, ``batch`` events per
    published message, dropping QoS 1 duplicates: an event whose ``seq_field`` is not above
    the last one seen for its ``device_field`` is counted in ``duplicates`` and dropped
    (MQTT keeps one connection's messages in order). Events without those fields pass.
    MQTT messages are acked only after the publish was confirmed; the published message
    ids are ``"<device>:<seq>"`` of its last event (JetStream de-duplicates by them)."""

    def __init__(self, source: Source, publisher: Publisher, *, device_field: str = "device",
                 seq_field: str = "seq", batch: int = 500, fmt: codec.Format = "msgpack") -> None:
        self.source, self.publisher = source, publisher
        self.device_field, self.seq_field, self.batch, self.fmt = device_field, seq_field, batch, fmt
        self.last: dict[Any, int] = {}
        self.forwarded = self.duplicates = self.malformed = 0

    def run_once(self, timeout_s: float = 0.5) -> int:
        """Bridge what one read returns; the number of events forwarded."""
        msgs = self.source.read(self.batch, timeout_s)
        if not msgs:
            return 0
        keep: list[dict[str, Any]] = []
        for m in msgs:
            try:
                events = codec.decode(m.payload)
            except codec.DecodeError:
                self.malformed += 1
                continue
            rows = events.to_pylist() if hasattr(events, "to_pylist") else (
                [dict(zip(events, vals, strict=True)) for vals in zip(*events.values(), strict=True)]
                if isinstance(events, dict) else events)
            for r in rows:
                dev, seq = r.get(self.device_field), r.get(self.seq_field)
                if dev is not None and isinstance(seq, int):
                    if seq <= self.last.get(dev, -1):
                        self.duplicates += 1
                        continue
                    self.last[dev] = seq
                keep.append(r)
        for i in range(0, len(keep), self.batch):
            part = keep[i:i + self.batch]
            last = part[-1]
            self.publisher.publish([codec.encode(part, self.fmt)],
                                   ids=[f"{last.get(self.device_field)}:{last.get(self.seq_field)}"])
        self.source.ack(msgs)
        self.forwarded += len(keep)
        return len(keep)


__all__ = ["MqttBridge", "MqttPublisher", "MqttSource"]
