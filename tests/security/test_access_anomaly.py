"""Anomaly detection on loopml's own access: a service token that suddenly downloads every
artifact of a workspace through the unmodified mlflow client raises an ``alert.firing``
event (the same alert engine, states and event log as model monitors)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from loopml.errors import InvalidConfig, Unauthenticated
from loopml.security import ALL_WORKSPACES, Authenticator, IdentityKind, Principal, Role
from loopml.security._audit_anomaly import MONITOR, AccessMonitor, AccessRule
from loopml.store import get_monitoring_store
from tests.server.conftest import start_server

mlflow = pytest.importorskip("mlflow")
WINDOW_S = 300


class _Tokens:
    """A CredentialVerifier for two fixed service tokens (stands in for API tokens)."""

    def verify(self, scheme: str, credentials: str) -> Principal | None:
        if scheme != "bearer" or not credentials.startswith("tok-"):
            return None
        who = {"tok-ci": "svc-ci", "tok-trainer": "svc-trainer"}.get(credentials)
        if who is None:
            raise Unauthenticated("Unknown token.")
        return Principal(who, IdentityKind.SERVICE_ACCOUNT, {ALL_WORKSPACES: Role.EDITOR},
                         via="token")


def test_bulk_download_raises_an_alert(tmp_path: Path, monkeypatch) -> None:
    srv = start_server(tmp_path / "srv", auth=Authenticator(None, None, [_Tokens()]))
    try:
        services = srv.server.config.app.state.services
        audit = services.audit
        start = int(time.time() * 1000) - 60_000  # the window under test starts here
        # A normal day: svc-ci logs a few runs and fetches one artifact per window.
        for w in range(12):
            t0 = start - (12 - w) * WINDOW_S * 1000
            for i in range(5):
                audit.record("POST /api/2.0/mlflow/runs/log-metric", "allow",
                             actor="svc-ci", kind="service_account", via="token",
                             client="127.0.0.1", time_ms=t0 + i * 1000)
            audit.record("artifact.download", "allow", actor="svc-ci",
                         kind="service_account", via="token", client="127.0.0.1",
                         time_ms=t0 + 9000)
        # The trainer writes a workspace's worth of artifacts...
        src = tmp_path / "files"
        src.mkdir()
        for i in range(30):
            (src / f"part-{i:02d}.csv").write_text(f"id,value\n{i},{i * 2}\n")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", srv.url)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-trainer")
        mlflow.set_tracking_uri(srv.url)
        mlflow.set_experiment("exfiltration")  # not an experiment id of an earlier server
        with mlflow.start_run() as run:
            mlflow.log_artifacts(str(src), "data")
        # ...and the CI token, compromised, pulls every one of them.
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-ci")
        got = mlflow.artifacts.download_artifacts(run_id=run.info.run_id,
                                                  dst_path=str(tmp_path / "loot"))
        assert len(list(Path(got).rglob("*.csv"))) == 30

        mon = AccessMonitor(audit, monitoring_store=get_monitoring_store(services.store),
                            window_s=WINDOW_S)
        end = int(time.time() * 1000) + 1000
        m = mon.metrics(end)
        assert m["svc-ci"]["access.downloads"] >= 30 and m["svc-ci"]["access.downloads_z"] > 10
        events = mon.evaluate(end)
        fired = {(e.rule, e.subject) for e in events}
        assert ("bulk-download", "svc-ci") in fired
        assert ("bulk-download", "svc-trainer") not in fired  # uploads are not downloads
        # Published through the event log, where webhooks and the controller read alerts.
        logged = services.store.read_events(types=["alert.firing"])
        assert any(e.subject == "bulk-download/svc-ci" and e.payload["monitor"] == MONITOR
                   for e in logged)
        assert mon.evaluate(end) == []  # the same window again: nothing fires twice
    finally:
        srv.stop()


def test_new_address_and_denials(tmp_path: Path) -> None:
    from loopml.security.audit import AuditLog
    from loopml.store import get_store

    audit = AuditLog.for_store(get_store(f"sqlite:///{tmp_path / 'db'}"))
    assert audit is not None
    end = 100 * WINDOW_S * 1000
    for w in range(1, 13):  # baseline: bob, always from one address, in working hours
        for i in range(6):
            audit.record("POST /x", "allow", actor="bob", client="10.0.0.5",
                         time_ms=end - (w + 1) * WINDOW_S * 1000 + i)
    for i in range(12):
        audit.record("POST /x", "deny", actor="bob", client="203.0.113.9",
                     time_ms=end - 1000 + i)
    m = AccessMonitor(audit, window_s=WINDOW_S).metrics(end)["bob"]
    assert m["access.new_clients"] == 1 and m["access.denials"] == 12
    assert m["access.denial_rate"] == 1.0
    rules = {e.rule for e in AccessMonitor(audit, window_s=WINDOW_S).evaluate(end)}
    assert {"new-client-address", "repeated-denials"} <= rules
    with pytest.raises(InvalidConfig, match="metric"):
        AccessRule("x", "access.request", ">", 1)
    audit.close()


def test_cli_monitor(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from loopml.cli.main import app

    uri = f"sqlite:///{tmp_path / 'db'}"
    r = CliRunner().invoke(app, ["audit", "monitor", "--backend-store-uri", uri])
    assert r.exit_code == 0 and "0 alert transition(s)" in r.output, r.output
