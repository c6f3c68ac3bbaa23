from __future__ import annotations

import time

import pyarrow as pa
import pytest

from loopml.streaming.io import codec
from loopml.streaming.io._base import BrokerUnavailable, GroupOwned
from loopml.streaming.io.redis_streams import (
    RedisStreamPublisher,
    RedisStreamSink,
    RedisStreamSource,
    connect,
)
from loopml.testing.broker_contract import BrokerContract, BrokerUnderTest, drain
from tests.streaming.io.conftest import service

URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def broker() -> BrokerUnderTest:
    service(6379, "Redis")
    return BrokerUnderTest(publisher=lambda s: RedisStreamPublisher(URL, s),
                           source=lambda s, g, c: RedisStreamSource(URL, s, g, c, claim_idle_ms=100_000),
                           prefix="lmtest:redis")


class TestRedisContract(BrokerContract):
    pass


def test_a_dead_consumers_messages_are_claimed(broker: BrokerUnderTest) -> None:
    s = broker.fresh()
    pub = broker.publisher(s)
    pub.publish([codec.encode({"i": i}) for i in range(30)])
    dead = RedisStreamSource(URL, s, "g", "dead")
    assert len(drain(dead, 30, ack=False)) == 30  # then it dies without acking
    live = RedisStreamSource(URL, s, "g", "live", claim_idle_ms=50, claim_every_s=0.0)
    time.sleep(0.1)
    got = drain(live, 30)
    assert sorted(codec.decode(m.payload)[0]["i"] for m in got) == list(range(30))
    assert live.claimed == 30 and live.pending() == 0 and min(m.deliveries for m in got) == 2


def test_plain_entries_are_one_event() -> None:
    service(6379, "Redis")
    r = connect(URL)
    s = "lmtest:redis:plain-" + str(time.time_ns())
    r.xadd(s, {"machine": "m1", "temp": "97.5", "n": "3"})
    src = RedisStreamSource(URL, s, "g", "c")
    (m,) = drain(src, 1)
    assert codec.decode(m.payload) == [{"machine": "m1", "temp": 97.5, "n": 3}]


def test_group_owned_by_another_app() -> None:
    service(6379, "Redis")
    s = "lmtest:redis:own-" + str(time.time_ns())
    RedisStreamSource(URL, s, "cep", "c1", app="line3")
    RedisStreamSource(URL, s, "cep", "c2", app="line3")  # same app: another worker
    with pytest.raises(GroupOwned, match="belongs to app 'line3'"):
        RedisStreamSource(URL, s, "cep", "c1", app="line4")


def test_sink_is_idempotent_by_row_key() -> None:
    service(6379, "Redis")
    s = "lmtest:redis:sink-" + str(time.time_ns())
    sink = RedisStreamSink("alerts", URL, s)
    t = pa.table({"m": ["a", "b"], "_key": ["a|1", "b|1"]})
    sink.write(t, {"raw": "1-0"})
    sink.write(t, {"raw": "1-0"})  # the replay after a crash
    assert connect(URL).xlen(s) == 2 and sink.written == 2


def test_unreachable_redis_is_a_clear_error_after_backoff() -> None:
    t0 = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="cannot reach Redis at redis://127.0.0.1:1/0 after 3 attempts"):
        connect("redis://127.0.0.1:1/0", attempts=3)
    assert time.monotonic() - t0 >= 0.3  # waited between tries: no busy loop
