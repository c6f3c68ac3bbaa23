"""The audit trail: hash chain (tampering found, first broken record named), concurrent
writers, SQLite and PostgreSQL, the CLI, and the server recording mutating requests."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import orjson
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from loopml.cli.main import app
from loopml.security import IdentityKind, Principal, Role
from loopml.security.audit import AuditLog, outcome_for_status
from loopml.store import get_store

ALICE = Principal("alice", IdentityKind.USER, {"default": Role.EDITOR}, via="oidc")


def _log(uri: str) -> AuditLog:
    audit = AuditLog.for_store(get_store(uri))
    assert audit is not None
    return audit


def _fill(audit: AuditLog, n: int = 5) -> None:
    for i in range(n):
        audit.record(f"POST /api/x/{i}", "allow", principal=ALICE, target=f"/api/x/{i}",
                     client="10.0.0.1", request_id=f"r{i}")
    audit.record("login.password", "deny", actor="mallory", kind="user", via="password",
                 client="10.6.6.6", detail="wrong password")
    audit.flush()


def _chain_checks(uri: str) -> None:
    audit = _log(uri)
    _fill(audit)
    n, broken = audit.verify()
    assert (n, broken) == (6, None)
    rows = audit.query(actor="alice")
    assert [r.seq for r in rows] == [5, 4, 3, 2, 1] and rows[0].via == "oidc"
    assert [r.seq for r in audit.query(action="POST /api/*", limit=2)] == [5, 4]
    assert [r.actor for r in audit.query(outcome="deny")] == ["mallory"]
    # Someone edits record 3 to hide who did it.
    t = sa.table("audit_log", sa.column("seq"), sa.column("actor"))
    with audit.engine.begin() as conn:
        conn.execute(sa.update(t).where(t.c.seq == 3).values(actor="bob"))
    n, broken = audit.verify()
    assert broken is not None and broken.seq == 3 and "edited" in broken.reason
    with audit.engine.begin() as conn:
        conn.execute(sa.update(t).where(t.c.seq == 3).values(actor="alice"))
        conn.execute(sa.delete(t).where(t.c.seq == 4))
    n, broken = audit.verify()
    assert broken is not None and broken.seq == 5 and "removed" in broken.reason
    audit.close()


def test_chain_on_sqlite(sqlite_uri: str) -> None:
    _chain_checks(sqlite_uri)


def test_chain_on_postgresql(postgres_uri: str) -> None:
    _chain_checks(postgres_uri)


def _concurrent(uri: str) -> None:
    logs = [_log(uri) for _ in range(3)]  # three processes' worth of writers on one database

    def write(a: AuditLog) -> None:
        for i in range(40):
            a.record("POST /x", "allow", principal=ALICE, target=str(i))
            if i % 7 == 0:
                a.flush()
        a.flush()

    threads = [threading.Thread(target=write, args=(a,)) for a in logs]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert logs[0].verify() == (120, None)
    for a in logs:
        a.close()


def test_concurrent_writers_keep_one_chain_sqlite(sqlite_uri: str) -> None:
    _concurrent(sqlite_uri)


def test_concurrent_writers_keep_one_chain_postgresql(postgres_uri: str) -> None:
    _concurrent(postgres_uri)


def test_close_writes_what_was_queued(sqlite_uri: str) -> None:
    audit = _log(sqlite_uri)
    audit.flush_interval_s = 3600  # the background thread would not get to it
    for i in range(1000):
        audit.record("POST /x", "allow", target=str(i))
    audit.close()
    assert _log(sqlite_uri).verify() == (1000, None)


def test_outcomes() -> None:
    assert [outcome_for_status(s) for s in (200, 302, 401, 403, 429, 400, 500)] == \
        ["allow", "allow", "deny", "deny", "deny", "error", "error"]
    with pytest.raises(ValueError, match="outcome"):
        AuditLog(sa.create_engine("sqlite://")).record("x", "maybe")


def test_cli_verify_list_export(sqlite_uri: str, tmp_path: Path) -> None:
    audit = _log(sqlite_uri)
    _fill(audit)
    audit.close()
    run = CliRunner().invoke
    ok = run(app, ["audit", "verify", "--backend-store-uri", sqlite_uri])
    assert ok.exit_code == 0 and "OK: 6 records" in ok.output, ok.output
    listed = run(app, ["audit", "list", "--backend-store-uri", sqlite_uri, "--actor", "alice",
                       "--since", "1h", "--action", "POST /api/x/1"])
    assert listed.exit_code == 0 and listed.output.count("alice") == 1, listed.output
    out = tmp_path / "audit.jsonl"
    exp = run(app, ["audit", "export", "--backend-store-uri", sqlite_uri, "-o", str(out)])
    assert exp.exit_code == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["seq"] for r in lines] == [1, 2, 3, 4, 5, 6] and lines[5]["actor"] == "mallory"
    assert run(app, ["audit", "export", "--backend-store-uri", sqlite_uri,
                     "--format", "csv"]).exit_code == 2
    assert run(app, ["audit", "list", "--backend-store-uri", sqlite_uri,
                     "--since", "yesterday"]).exit_code == 2
    t = sa.table("audit_log", sa.column("seq"), sa.column("detail"))
    with audit.engine.begin() as conn:
        conn.execute(sa.update(t).where(t.c.seq == 2).values(detail="nothing to see"))
    bad = run(app, ["audit", "verify", "--backend-store-uri", sqlite_uri])
    assert bad.exit_code == 1 and "record 2" in bad.output, bad.output


def test_server_records_mutating_requests_and_denials(tmp_path: Path) -> None:
    from tests.server.conftest import start_server

    srv = start_server(tmp_path / "srv", token="tok")
    try:
        auth = {"Authorization": "Bearer tok", "X-Request-Id": "req-42"}
        r = httpx.post(f"{srv.url}/api/2.0/mlflow/experiments/create", json={"name": "e"},
                       headers=auth)
        assert r.status_code == 200
        httpx.post(f"{srv.url}/api/2.0/mlflow/experiments/create", json={"name": "f"})
        httpx.get(f"{srv.url}/api/2.0/mlflow/experiments/search", headers=auth)  # not recorded
        httpx.get(f"{srv.url}/api/2.0/mlflow/experiments/search")  # refused: recorded
        got = httpx.get(f"{srv.url}/api/loopml/v1/audit", headers=auth)
        assert got.status_code == 200
        recs = got.json()["records"]
        assert [(r["action"], r["outcome"]) for r in recs] == [
            ("GET /api/2.0/mlflow/experiments/search", "deny"),
            ("POST /api/2.0/mlflow/experiments/create", "deny"),
            ("POST /api/2.0/mlflow/experiments/create", "allow")]
        recs = recs[1:]
        assert recs[1]["request_id"] == "req-42" and recs[1]["client"] == "127.0.0.1"
        assert recs[1]["target"] == "/api/2.0/mlflow/experiments/create"
        assert httpx.get(f"{srv.url}/api/loopml/v1/audit").status_code == 401
        bad = httpx.get(f"{srv.url}/api/loopml/v1/audit?outcome=maybe&limit=5", headers=auth)
        assert bad.status_code == 400 and "outcome" in bad.json()["message"]
        v = httpx.get(f"{srv.url}/api/loopml/v1/audit/verify", headers=auth).json()
        assert v["ok"] and v["checked"] == 4 and v["head"]["seq"] == 4  # + the refused GET
        page = httpx.get(f"{srv.url}/ui/audit?outcome=deny", headers=auth)
        assert page.status_code == 200 and "experiments/create" in page.text
        assert page.text.count('<span class="st failed">deny</span>') == 3
        # The dashboard's token sign-in is a security decision: both outcomes recorded.
        ui = httpx.Client(base_url=srv.url)
        csrf = ui.get("/ui/login").cookies["loopml_csrf"]
        for token in ("nope", "tok"):
            ui.post("/ui/login", data={"csrf": csrf, "token": token, "next": "/ui/audit"})
        logins = httpx.get(f"{srv.url}/api/loopml/v1/audit?action=login.*",
                           headers=auth).json()["records"]
        assert [r["outcome"] for r in logins] == ["allow", "deny"]
        srv.server.config.app.state.services.audit.flush_interval_s = 3600  # no timer flush
        last = httpx.post(f"{srv.url}/api/2.0/mlflow/experiments/create",
                          json={"name": "last"}, headers=auth)
        assert last.status_code == 200
    finally:
        srv.stop()
    # Shut down cleanly: the request acknowledged just before is on disk, chained.
    after = _log(f"sqlite:///{tmp_path / 'srv' / 'db.sqlite'}")
    assert after.verify()[1] is None
    newest = after.query(limit=1)[0]
    assert newest.action == "POST /api/2.0/mlflow/experiments/create"
    assert orjson.loads(orjson.dumps(newest.target)) == "/api/2.0/mlflow/experiments/create"
