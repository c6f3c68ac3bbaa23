"""Alert rules: held for N windows, deduplicated, idempotent per window, published as events."""

from __future__ import annotations

import pytest

from loopml.errors import InvalidParameterValue
from loopml.monitoring.alerts import FIRING, RESOLVED, AlertEngine, AlertRule, store_publisher
from loopml.store.sql import SqlStore
from tests.server.conftest import live_server  # noqa: F401 - fixture re-export


def test_fires_after_n_windows_then_resolves_once() -> None:
    rule = AlertRule("drift", "drift.share_drifted", ">=", 0.5, for_windows=3)
    eng = AlertEngine([rule])
    seq = [0.6, 0.7, 0.8, 0.9, 0.9, 0.1, 0.1, 0.6]
    events = [eng.observe("fraud@champion", w, {"drift.share_drifted": v})
              for w, v in enumerate(seq, start=1)]
    kinds = [(w, e.type) for w, evs in enumerate(events, start=1) for e in evs]
    assert kinds == [(3, FIRING), (6, RESOLVED)]  # one event per transition
    assert eng.firing() == []


def test_streak_resets_and_windows_are_idempotent() -> None:
    eng = AlertEngine([AlertRule("lat", "latency.p99_ms", ">", 20, for_windows=2)])
    assert eng.observe("d", 1, {"latency.p99_ms": 30}) == []
    assert eng.observe("d", 2, {"latency.p99_ms": 10}) == []  # streak broken
    assert eng.observe("d", 3, {"latency.p99_ms": 30}) == []
    fired = eng.observe("d", 4, {"latency.p99_ms": 31})
    assert [e.type for e in fired] == [FIRING] and fired[0].value == 31
    assert eng.observe("d", 4, {"latency.p99_ms": 5}) == []  # re-run of window 4
    assert eng.observe("d", 2, {"latency.p99_ms": 5}) == []  # an older window
    assert eng.firing() == [("lat", "d")]
    assert eng.observe("other", 4, {"latency.p99_ms": 99}) == []  # subjects are separate
    assert eng.observe("d", 5, {}) == []  # no data: state holds


def test_bad_rules() -> None:
    with pytest.raises(InvalidParameterValue, match="op"):
        AlertRule("x", "m", "=>", 1)
    with pytest.raises(InvalidParameterValue, match="for_windows"):
        AlertRule("x", "m", ">", 1, for_windows=0)


def test_published_to_the_event_log(tmp_path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'db'}", str(tmp_path / "a"))
    eng = AlertEngine([AlertRule("acc", "quality.accuracy", "<", 0.9, labels={"team": "risk"})],
                      publish=store_publisher(store))
    eng.observe("fraud@champion", 100, {"quality.accuracy": 0.8})
    eng.observe("fraud@champion", 200, {"quality.accuracy": 0.95})
    evs = [e for e in store.read_events() if e.type.startswith("alert.")]
    assert [(e.type, e.subject) for e in evs] == [(FIRING, "acc/fraud@champion"),
                                                  (RESOLVED, "acc/fraud@champion")]
    assert evs[0].payload["value"] == 0.8 and evs[0].payload["labels"] == {"team": "risk"}
    store.close()


def test_spec_webhooks_get_signed_alerts(tmp_path) -> None:
    import json

    from loopml.monitoring.monitor import MonitorSpec, alert_engine, webhook_consumer
    from loopml.monitoring.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
    from tests.monitoring.test_webhooks import Receiver

    recv = Receiver([])
    store = SqlStore(f"sqlite:///{tmp_path / 'db'}", str(tmp_path / "a"))
    try:
        spec = MonitorSpec("m", "d", str(tmp_path), rules=[AlertRule("p99", "latency.p99_ms", ">", 20)],
                           webhooks=[{"url": recv.url, "secret": "k", "allow": ["127.0.0.1"]}])
        eng = alert_engine(spec, store)
        hooks = webhook_consumer(spec, store)
        eng.observe("d", 1, {"latency.p99_ms": 50})
        assert recv.got == []  # delivery is not the monitor's job: a consumer of the events
        hooks.run_once()
        headers, body = recv.got[0]
        assert json.loads(body)["type"] == FIRING and json.loads(body)["value"] == 50
        assert verify_signature("k", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
        assert [e.type for e in store.read_events(types=[FIRING])] == [FIRING]
        hooks.run_once()
        assert len(recv.got) == 1  # its cursor moved: delivered once
        with pytest.raises(InvalidParameterValue, match="metadata"):
            alert_engine(MonitorSpec("m", "d", ".", webhooks=[
                {"url": "http://169.254.169.254/x", "secret": "k"}]), store)
    finally:
        recv.close()
        store.close()


_SECOND_PROCESS = """
import sys
from loopml.monitoring.alerts import AlertEngine, AlertRule, store_publisher
from loopml.store import get_monitoring_store
from loopml.store.sql import SqlStore

store = SqlStore(sys.argv[1], sys.argv[2])
eng = AlertEngine([AlertRule("p99", "latency.p99_ms", ">", 20)],
                  store=get_monitoring_store(store), monitor="mon")
for w, v in [(2, 50.0), (3, 5.0)]:  # still breaching, then back to normal
    print([e.type for e in eng.observe("d", w, {"latency.p99_ms": v})])
store.close()
"""


def test_alert_state_survives_the_process(tmp_path) -> None:
    """A second process continues the first one's alerts: it does not fire again what is
    firing, and it resolves what the first process fired."""
    import os
    import subprocess
    import sys

    from loopml.store import get_monitoring_store

    uri, root = f"sqlite:///{tmp_path / 'db'}", str(tmp_path / "a")
    store = SqlStore(uri, root)
    eng = AlertEngine([AlertRule("p99", "latency.p99_ms", ">", 20)],
                      store=get_monitoring_store(store), monitor="mon")
    assert [e.type for e in eng.observe("d", 1, {"latency.p99_ms": 50})] == [FIRING]
    out = subprocess.run([sys.executable, "-c", _SECOND_PROCESS, uri, root], check=True,
                         capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}).stdout
    assert out.split("\n")[:2] == ["[]", "['alert.resolved']"]
    evs = [(e.type, e.payload["window_end"]) for e in store.read_events(types=[FIRING, RESOLVED])]
    assert evs == [(FIRING, 1), (RESOLVED, 3)]
    assert eng.firing() == []  # the first engine sees the state the second one left
    assert eng.observe("d", 3, {"latency.p99_ms": 99}) == []  # window 3 was observed there
    store.close()


def test_lost_race_rereads_the_state(tmp_path) -> None:
    """Two engines on one store observing the same window publish one transition."""
    from loopml.store import get_monitoring_store

    store = SqlStore(f"sqlite:///{tmp_path / 'db'}", str(tmp_path / "a"))
    mon = get_monitoring_store(store)
    rules = [AlertRule("p99", "latency.p99_ms", ">", 20)]
    a, b = AlertEngine(rules, store=mon, monitor="m"), AlertEngine(rules, store=mon, monitor="m")
    assert [e.type for e in a.observe("d", 1, {"latency.p99_ms": 50})] == [FIRING]
    assert b.observe("d", 1, {"latency.p99_ms": 50}) == []
    assert b.observe("d", 2, {"latency.p99_ms": 50}) == []
    assert b.firing() == a.firing() == [("p99", "d")]
    assert [e.type for e in store.read_events(types=[FIRING, RESOLVED])] == [FIRING]
    store.close()


def test_alert_state_over_rest(live_server) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """The REST monitoring store keeps alert state and the read cursor on the server too."""
    import httpx

    from loopml.store.monitoring_base import AlertState
    from loopml.store.monitoring_rest import RestMonitoringStore
    from loopml.store.rest import RestStore

    tracking = RestStore(live_server.url)
    store = RestMonitoringStore(tracking)
    rules = [AlertRule("p99", "latency.p99_ms", ">", 20)]
    eng = AlertEngine(rules, store=store, monitor="rest-mon")
    assert [e.type for e in eng.observe("d", 1, {"latency.p99_ms": 50})] == [FIRING]
    again = AlertEngine(rules, store=store, monitor="rest-mon")
    assert again.observe("d", 2, {"latency.p99_ms": 60}) == []
    assert [e.type for e in again.observe("d", 3, {"latency.p99_ms": 1})] == [RESOLVED]
    assert store.alert_states("rest-mon") == {("p99", "d"): AlertState(0, False, 3)}
    assert store.put_alert_state("rest-mon", "p99", "d", AlertState(1, True, 2),
                                 AlertState()) is False  # stale expectation: refused
    assert store.last_window_end("rest-mon") == 0
    evs = [e for e in tracking.read_events(types=[FIRING, RESOLVED])
           if e.payload.get("monitor") == "rest-mon"]
    assert [(e.type, e.subject) for e in evs] == [(FIRING, "p99/d"), (RESOLVED, "p99/d")]
    bad = httpx.post(f"{live_server.url}/api/loopml/v1/monitors/x/alerts",
                     json={"rule": "r", "subject": "s", "state": "firing"})
    assert bad.status_code == 400 and "state" in bad.json()["message"]
    forged = httpx.post(f"{live_server.url}/api/loopml/v1/monitors/x/alerts", json={
        "rule": "r", "subject": "s", "state": {}, "event": {
            "type": "model_version.created", "subject": "m/1", "payload": {}}})
    assert forged.status_code == 400 and "alert.firing" in forged.json()["message"]
    tracking.close()


def test_alert_state_bounds(tmp_path) -> None:
    """Values the columns cannot hold are a 4xx-class error, not a database fault."""
    from loopml.store import get_monitoring_store
    from loopml.store.monitoring_base import AlertState, AlertTransition

    store = SqlStore(f"sqlite:///{tmp_path / 'db'}", str(tmp_path / "a"))
    mon = get_monitoring_store(store)
    with pytest.raises(InvalidParameterValue, match="streak"):
        AlertState(2**40)
    with pytest.raises(InvalidParameterValue, match="last_window"):
        AlertState(0, False, 2**64)
    with pytest.raises(InvalidParameterValue, match="subject"):
        mon.put_alert_state("m", "r", "s" * 501, None, AlertState())
    with pytest.raises(InvalidParameterValue, match="subject"):
        AlertTransition(FIRING, "", {})
    store.close()
