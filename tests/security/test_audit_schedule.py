"""The access-anomaly monitor scheduled like the model monitors: each pass evaluates the
audit windows closed since the last, once (a cursor in the store), and alerts through the
same alert.* events, written by the loopml:audit-monitor service identity."""

from __future__ import annotations

from pathlib import Path

from loopml.config import load_settings
from loopml.security._audit_anomaly import MONITOR, AccessMonitor
from loopml.security._audit_schedule import (
    CURSOR,
    SETTLE_MS,
    AuditMonitorScheduler,
    start_audit_monitor,
)
from loopml.services import open_services

W = 300  # window, s


def _record(audit, actor: str, action: str, t: int) -> None:  # type: ignore[no-untyped-def]
    audit.record(action, "allow", actor=actor, kind="service_account", via="token",
                 client="127.0.0.1", time_ms=t)


def test_scheduled_windows_alert_once_and_resume_after_a_restart(tmp_path: Path) -> None:
    s = open_services(load_settings(home=tmp_path / "home"))
    assert s.audit is not None
    w_ms = W * 1000
    now = {"t": 1_000_000 * w_ms / 1000}  # seconds: a window boundary, far from the epoch
    end0 = int(now["t"] * 1000)  # the first window the scheduler will evaluate ends here
    for w in range(12):  # a quiet baseline: one download per window
        _record(s.audit, "svc-ci", "artifact.download", end0 - (13 - w) * w_ms + 500)
    for i in range(40):  # the window ending at end0: a bulk download
        _record(s.audit, "svc-ci", "artifact.download", end0 - w_ms + 1000 + i)
    s.audit.flush()

    def scheduler() -> AuditMonitorScheduler:
        mon = AccessMonitor(s.audit, monitoring_store=s.monitoring, window_s=W)
        return AuditMonitorScheduler(mon, s.loops, 60, clock=lambda: now["t"])

    sched = scheduler()
    now["t"] = end0 / 1000 + 1  # not settled yet: the last closed window is the one before
    assert sched.due() == [end0 - w_ms]
    now["t"] = (end0 + SETTLE_MS) / 1000 + 1
    assert sched.due() == [end0]  # first pass ever: only the newest closed window
    assert sched.run_once() >= 1
    assert s.loops.get_cursor(CURSOR) == end0
    fired = s.tracking.read_events(types=["alert.firing"])
    bulk = [e for e in fired if e.subject == "bulk-download/svc-ci"]
    assert bulk and bulk[0].payload["monitor"] == MONITOR
    assert (bulk[0].actor, bulk[0].actor_kind) == ("loopml:audit-monitor", "service")
    assert sched.run_once() == 0 and sched.windows == 1  # nothing new: not evaluated again

    now["t"] += 2 * W  # two more windows close; a restarted server picks them both up
    again = scheduler()
    assert again.due() == [end0 + w_ms, end0 + 2 * w_ms]
    again.run_once()
    assert again.windows == 2 and s.loops.get_cursor(CURSOR) == end0 + 2 * w_ms
    s.close()


def test_start_needs_an_audit_trail_and_the_setting_turns_it_off(tmp_path: Path,
                                                                  monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LOOPML_AUDIT_MONITOR", "false")
    settings = load_settings(home=tmp_path / "home")
    assert settings.audit_monitor is False and settings.audit_monitor_interval_s == 60
    s = open_services(settings)
    sched = start_audit_monitor(s, 3600, W, 12)
    assert sched is not None and sched._thread.is_alive()
    sched.stop()
    s.audit = None  # a REST store keeps no trail here
    assert start_audit_monitor(s, 3600, W, 12) is None
    s.close()
