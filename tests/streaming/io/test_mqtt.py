from __future__ import annotations

import uuid

import pytest

from loopml.streaming.io import codec
from loopml.streaming.io.memory import MemoryBroker
from loopml.streaming.io.mqtt import MqttBridge, MqttPublisher, MqttSource
from loopml.testing.broker_contract import BrokerContract, BrokerUnderTest, drain
from tests.streaming.io.conftest import service

URL = "mqtt://127.0.0.1:1883"


@pytest.fixture
def broker() -> BrokerUnderTest:
    service(1883, "Mosquitto")
    return BrokerUnderTest(publisher=lambda s: MqttPublisher(URL, s),
                           source=lambda s, g, c: MqttSource(URL, s, g, c, session_expiry_s=60),
                           has_lag=False, prefix="lmtest/mqtt")


class TestMqttContract(BrokerContract):
    pass


def test_bridge_drops_qos1_duplicates() -> None:
    service(1883, "Mosquitto")
    topic = f"lmtest/mqtt/bridge-{uuid.uuid4().hex[:8]}"
    src = MqttSource(URL, topic, "bridge", "b1", session_expiry_s=60)
    pub = MqttPublisher(URL, topic)
    events = [{"device": "d1", "seq": i, "v": float(i)} for i in range(20)]
    pub.publish([codec.encode(e) for e in events])
    pub.publish([codec.encode(e) for e in events[5:10]])  # a device re-sends (no PUBACK seen)
    out = MemoryBroker()
    bridge = MqttBridge(src, out.publisher("raw"), batch=100)
    for _ in range(20):
        bridge.run_once(0.3)
        if bridge.forwarded + bridge.duplicates >= 25:
            break
    assert (bridge.forwarded, bridge.duplicates) == (20, 5)
    got = drain(out.source("raw", "g", "c"), 10, deadline_s=0.5)
    seqs = [r["seq"] for m in got for r in codec.decode(m.payload)]  # type: ignore[index]
    assert seqs == list(range(20))
    src.close()
    pub.close()
