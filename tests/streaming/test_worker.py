"""The stream worker on the in-process broker: rules between a source and sinks, dead
letters, acks only after the sinks wrote, idempotent replays, the overflow policies and
the app file's errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.errors import InvalidConfig
from loopml.streaming.appfile import AppFile, load_app
from loopml.streaming.io import codec
from loopml.streaming.io.memory import MemoryBroker, MemorySink
from loopml.streaming.io.throttle import InFlight, TokenBucket
from loopml.streaming.worker import StreamWorker

RULES: dict[str, Any] = {
    "app": "line3",
    "sources": {"sensors": {"key": "m", "event_time": "ts",
                            "schema": {"m": "str", "temp": "float64", "ts": "int64"}}},
    "sinks": {"alerts": {"to": "redis://x", "key": ["m", "_time"]}},
    "rules": [{"name": "hot", "from": "sensors", "where": "temp > 95", "select": ["m", "temp"],
               "emit": {"to": "alerts", "severity": "high"}}],
}


def app(**over: Any) -> AppFile:
    spec = {"app": "line3", "rules": RULES,
            "sources": {"sensors": {"url": "memory://b", "stream": "raw", "batch": {"max_messages": 10, "max_wait": 5}}},
            "sinks": {"alerts": {"kind": "memory"}}, **over}
    return AppFile.model_validate(spec)


def events(lo: int, hi: int) -> list[dict[str, Any]]:
    return [{"m": f"m{i % 3}", "temp": 90.0 + i % 10, "ts": i} for i in range(lo, hi)]


def run_until(w: StreamWorker, cond: Any, seconds: float = 10.0) -> None:
    w.run(max_seconds=seconds, until=cond)
    assert cond(), "the worker did not get there in time"


def test_rules_between_a_source_and_sinks_with_dead_letters() -> None:
    b = MemoryBroker()
    pub = b.publisher("raw")
    pub.publish([codec.encode(events(0, 50), "json"), codec.encode(pa.Table.from_pylist(events(50, 100)), "arrow"),
                 b"\x00not an event", codec.encode({"m": "m1", "temp": 99.0, "ts": 100}, "msgpack"),
                 codec.encode({"m": "m1", "temp": "hot", "ts": 101})])
    w = StreamWorker(app(), brokers={"b": b}, consumer="w1")
    alerts = w.sinks["alerts"]
    assert isinstance(alerts, MemorySink)
    run_until(w, lambda: w.batches >= 1 and b.pending[("raw", "line3")] == {})
    w.close()
    hot = [r for r in events(0, 101) if r["temp"] > 95] + [{"m": "m1", "temp": 99.0, "ts": 100}]
    assert [r["temp"] for r in alerts.rows] == [r["temp"] for r in hot][: len(alerts.rows)] and len(alerts.rows) == 41
    assert alerts.rows[0]["severity"] == "high" and "_key" not in alerts.rows[0]
    dlq = w.dead_letter
    assert isinstance(dlq, MemorySink)
    reasons = [r["reason"] for r in dlq.rows]
    assert any("not a msgpack message" in r for r in reasons)  # malformed bytes, with the reason
    assert any("temp" in r for r in reasons)  # a row of the wrong type
    assert w.metrics.value("loopml_stream_events_in_total", source="sensors") == 102
    assert w.metrics.value("loopml_stream_dead_letter_total", source="sensors") == 2


def test_a_replayed_batch_writes_nothing_twice() -> None:
    b = MemoryBroker()
    b.publisher("raw").publish([codec.encode(events(0, 30))])
    sink = MemorySink("alerts")
    w = StreamWorker(app(), brokers={"b": b}, consumer="w1", sinks={"alerts": sink})
    w.start()
    src = w.sources["sensors"]
    real_ack = src.ack
    src.ack = lambda msgs: None  # type: ignore[method-assign]  # crash between write and ack
    w.run(max_seconds=5, until=lambda: len(sink.rows) > 0)
    first = len(sink.rows)
    w.close()
    w2 = StreamWorker(app(), brokers={"b": b}, consumer="w1", sinks={"alerts": sink})
    run_until(w2, lambda: b.pending[("raw", "line3")] == {})
    w2.close()
    assert first == 12 and len(sink.rows) == 12  # the replay wrote the same rows: dropped
    assert real_ack is not None


def test_poison_messages_go_to_the_dead_letters_after_max_deliveries() -> None:
    b = MemoryBroker()
    b.publisher("raw").publish([codec.encode(events(0, 5))])
    b.deliveries[("raw", "line3", 0)] = 3  # delivered 3 times before, never acked
    w = StreamWorker(app(sources={"sensors": {"url": "memory://b", "stream": "raw", "max_deliveries": 3}}),
                     brokers={"b": b}, consumer="w1")
    run_until(w, lambda: w.batches >= 1)
    w.close()
    assert "delivered 4 times" in w.dead_letter.rows[0]["reason"]  # type: ignore[union-attr]


@pytest.mark.parametrize(("policy", "kept"), [("shed_oldest", [3, 4]), ("sample", [1, 4])])
def test_overflow_policies(policy: str, kept: list[int]) -> None:
    dropped: list[tuple[int, str]] = []
    q: InFlight[int] = InFlight(2, policy, sample_every=3, on_drop=lambda x, why: dropped.append((x, why)))  # type: ignore[arg-type]
    for i in range(5):
        assert q.put(i)
    assert [q.get(0), q.get(0)] == kept and len(dropped) == 3


def test_block_policy_waits() -> None:
    q: InFlight[int] = InFlight(1, "block")
    assert q.put(1) and not q.put(2, timeout_s=0.05)


def test_token_bucket_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    tb = TokenBucket(1000, burst=100, clock=lambda: now[0], sleep=sleep)
    for _ in range(10):
        tb.take(100)
    assert abs(now[0] - 0.9) < 1e-9  # 1000 events at 1000/s with a burst of 100: 0.9 s


def test_app_file_errors_name_the_key_and_suggest(tmp_path: Path) -> None:
    f = tmp_path / "app.yaml"
    f.write_text("app: a\nrules: r.yaml\nsources:\n  s: {url: redis://x, stream: s, overflw: block}\n")
    with pytest.raises(InvalidConfig, match=r"sources.s.overflw.*did you mean 'overflow'"):
        load_app(f)
    f.write_text("app: a\nrules: r.yaml\nsources:\n  s: {url: redis://x, stream: s}\nsinks:\n  k: {kind: webhok}\n")
    with pytest.raises(InvalidConfig, match=r"sinks.k.kind.*did you mean 'webhook'"):
        load_app(f)
    with pytest.raises(InvalidConfig, match=r"sinks: the rules emit to \['alerts'\].*add sinks.alerts"):
        StreamWorker(app(sinks={}), brokers={"b": MemoryBroker()})
    with pytest.raises(InvalidConfig, match=r"sinks.alert: no rule.*did you mean 'alerts'"):
        StreamWorker(app(sinks={"alerts": {"kind": "memory"}, "alert": {"kind": "memory"}}),
                     brokers={"b": MemoryBroker()})
    with pytest.raises(InvalidConfig, match=r"sources.sensor: the rules have no source.*did you mean 'sensors'"):
        StreamWorker(app(sources={"sensor": {"url": "memory://b", "stream": "raw"}}), brokers={"b": MemoryBroker()})


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.sampled_from(["app", "rules", "sources", "sinks", "group", "metrics", "x"]),
                       st.one_of(st.none(), st.integers(), st.text(max_size=5),
                                 st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2))))
def test_app_loader_raises_only_invalid_config(data: dict[str, Any]) -> None:
    from loopml._config import validate

    try:
        validate(AppFile, data, "app.yaml")
    except InvalidConfig as e:
        assert str(e).startswith("app.yaml: ")
