from __future__ import annotations

import pytest

from loopml.streaming.io import codec
from loopml.streaming.io._base import GroupOwned
from loopml.streaming.io.nats_jetstream import NatsPublisher, NatsSource
from loopml.testing.broker_contract import BrokerContract, BrokerUnderTest, drain
from tests.streaming.io.conftest import service

URL = "nats://127.0.0.1:4222"


@pytest.fixture
def broker() -> BrokerUnderTest:
    service(4222, "NATS (JetStream)")
    return BrokerUnderTest(publisher=lambda s: NatsPublisher(URL, s),
                           source=lambda s, g, c: NatsSource(URL, s, g, c, ack_wait_s=1.0),
                           restart_wait_s=1.2, prefix="lmtest.nats")


class TestNatsContract(BrokerContract):
    pass


def test_msg_id_dedups_a_republish(broker: BrokerUnderTest) -> None:
    s = broker.fresh()
    pub = broker.publisher(s)
    pub.publish([codec.encode({"i": 1})], ids=["dev1:1"])
    pub.publish([codec.encode({"i": 1})], ids=["dev1:1"])  # a retried publish
    src = broker.source(s, "g", "c")
    assert len(drain(src, 2, deadline_s=2.0)) == 1
    src.close()
    pub.close()


def test_group_owned_by_another_app(broker: BrokerUnderTest) -> None:
    s = broker.fresh()
    NatsSource(URL, s, "cep", "c1", app="line3").close()
    with pytest.raises(GroupOwned, match="loopml app line3"):
        NatsSource(URL, s, "cep", "c1", app="line4")
