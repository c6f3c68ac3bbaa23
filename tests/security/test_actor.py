"""Events and loop audit entries name their actor: the request's principal, or the loopml
service (controller, monitors, triggers) that wrote them."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from loopml.security import IdentityService, Role
from loopml.security.actor import SERVICE, acting_as, current_actor, service_actor
from loopml.server._factory import build_services
from loopml.server.app import create_app
from loopml.store import get_loop_store
from loopml.store.identities_sql import SqlIdentityStore
from loopml.store.sql import SqlStore

API = "/api/loopml/v1"


def test_acting_as_binds_and_restores() -> None:
    assert current_actor() == (None, None)
    with acting_as("ann", "user"):
        assert current_actor() == ("ann", "user")
        with acting_as(service_actor("monitors"), SERVICE):
            assert current_actor() == ("loopml:monitors", "service")
        assert current_actor() == ("ann", "user")
    assert current_actor() == (None, None)


def test_an_event_posted_over_the_api_names_the_token_owner(tmp_path: Path,
                                                            monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "a"))
    svc = IdentityService(SqlIdentityStore(store.engine))
    svc.create_service_account("trainer")
    svc.grant("trainer", "default", Role.ADMIN)
    token = svc.issue_token("trainer", "default").token
    store.close()
    monkeypatch.setenv("LOOPML_AUTH_REQUIRED", "true")
    services = build_services(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "a"))
    with TestClient(create_app(services), base_url="http://127.0.0.1") as c:
        h = {"Authorization": f"Bearer {token}"}
        r = c.post(f"{API}/events", json={"type": "dataset.version_created",
                                          "subject": "d/1"}, headers=h)
        assert r.status_code == 200, r.text
        events = c.get(f"{API}/events", headers=h).json()["events"]
    mine = [e for e in events if e["type"] == "dataset.version_created"]
    assert mine and mine[-1]["actor"] == "trainer"
    assert mine[-1]["actor_kind"] == "service_account"
    # Outside any request (a local script) nothing is bound: no actor, not a guess.
    seq = services.store.append_event("x.local", "s")
    local = [e for e in services.store.read_events(seq - 1) if e.seq == seq][0]
    assert (local.actor, local.actor_kind) == (None, None)


def test_loop_audit_entries_carry_the_actor(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "a"))
    loops = get_loop_store(store)
    with acting_as(service_actor("loop-controller"), SERVICE):
        loops.audit("m", "triggered", "alert drift", {"x": 1})
    with acting_as("alice", "user"):
        loops.audit("m", "approved", "looks good", {})
    entries = loops.history("m")
    assert [(e.action, e.actor, e.actor_kind) for e in entries] == [
        ("triggered", "loopml:loop-controller", "service"), ("approved", "alice", "user")]
    # Their events name the same actor (one transaction: the outbox).
    ev = [e for e in store.read_events() if e.type.startswith("loop.")]
    assert [e.actor for e in ev] == ["loopml:loop-controller", "alice"]


def test_the_poller_thread_acts_as_its_service(tmp_path: Path) -> None:
    from loopml._poller import Poller

    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "a"))

    class Once(Poller):
        interval_s = 0.01

        def run_once(self) -> None:
            store.append_event("alert.firing", "drift/d")
            self._stop.set()

    p = Once("monitors")
    p.start()
    p._thread.join(10)
    e = store.read_events(types=["alert.firing"])[-1]
    assert (e.actor, e.actor_kind) == ("loopml:monitors", "service")
