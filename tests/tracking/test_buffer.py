from __future__ import annotations

import pytest

from loopml.entities import Metric
from loopml.errors import InvalidParameterValue, LoopmlError
from loopml.tracking._buffer import MetricBuffer


def test_transport_failure_requeues_and_surfaces():
    sent: list[int] = []
    fail = {"on": True}

    def send(run_id, metrics):
        if fail["on"]:
            raise ConnectionError("server down")
        sent.extend(m.step for m in metrics)

    buf = MetricBuffer(send, interval=3600, retries=1)
    for i in range(10):
        buf.add("r", Metric("m", 1.0, 1, i))
    with pytest.raises(ConnectionError):
        buf.flush()
    fail["on"] = False
    buf.flush()  # nothing was lost: the failed points went back to the queue
    assert sent == list(range(10))
    buf.close()


def test_invalid_data_is_raised_not_retried():
    calls = []

    def send(run_id, metrics):
        calls.append(1)
        raise InvalidParameterValue("bad key")

    buf = MetricBuffer(send, interval=3600)
    buf.add("r", Metric("m", 1.0, 1, 0))
    with pytest.raises(LoopmlError):
        buf.flush()
    assert len(calls) == 1
    buf.close()
