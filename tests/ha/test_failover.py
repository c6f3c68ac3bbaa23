"""Two real ``loopml server`` replicas on one fresh PostgreSQL database: only the
leader runs triggers and the loop controller; ``kill -9`` of the leader hands the work to
the other within 15 s; a leader whose database session is terminated
(``pg_terminate_backend``) steps down. Across all of it every event fires its trigger once
and every loop moves through each state once (asserted on the stored runs and audit)."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml

from loopml.pipelines.triggers import validate_trigger
from loopml.security.workspaces import ALL_WORKSPACES, use_workspace
from loopml.store import get_loop_store, get_pipeline_store, get_store
from loopml.store.pipelines_base import Trigger
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = "tests.ha.flows:on_event,tests.ha.flows:retrain"


class Replica:
    def __init__(self, uri: str, tmp: Path, policies: Path, name: str) -> None:
        self.port = free_port()
        self.log = tmp / f"{name}.log"
        pypath = os.pathsep.join(p for p in (str(ROOT / "src"), str(ROOT)) if p)
        env = {**os.environ, "LOOPML_HOME": str(tmp / "home"), "PYTHONPATH": pypath}
        env.pop("LOOPML_TRACKING_URI", None)
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "loopml", "server", "--port", str(self.port),
                 "--backend-store-uri", uri, "--artifacts-destination", str(tmp / "art"),
                 "--pipelines", PIPELINES, "--policies", str(policies),
                 "--trigger-interval", "0.3", "--controller-interval", "0.3",
                 "--no-access-log"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    def leader(self) -> dict[str, Any] | None:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/health/leader", timeout=5).json()  # type: ignore[no-any-return]
        except httpx.TransportError:
            return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


def _until(cond, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if cond():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"not reached within {timeout}s: {what}")


def _leads(r: Replica) -> bool:
    info = r.leader()
    return bool(info and info["leader"])


@pytest.mark.timeout(300)
def test_failover_runs_everything_once(postgres_uri: str, tmp_path: Path) -> None:
    policies = tmp_path / "policies.yaml"
    policies.write_text(yaml.safe_dump({
        "model": "pm", "deployment": "pm", "log_dir": str(tmp_path / "log"),
        "trigger": {"alerts": ["drift*"], "merge_seconds": 0},
        "retrain": {"pipeline": "tests.ha.flows:retrain"}}))
    store = get_store(postgres_uri, str(tmp_path / "art"))
    pipelines, loops = get_pipeline_store(store), get_loop_store(store)
    pipelines.create_trigger(validate_trigger(Trigger(
        "refresh", "tests.ha.flows:on_event", "event", {"types": ["myapp.refreshed"]})))
    seqs: list[int] = []

    def events(n: int) -> None:
        seqs.extend(store.append_event("myapp.refreshed", f"t{i}") for i in range(n))

    def fired() -> set[int]:
        with use_workspace(ALL_WORKSPACES):
            runs = pipelines.list_runs(limit=1000)
        got = [r.trigger["event"]["seq"] for r in runs if r.trigger.get("trigger") == "refresh"]
        assert len(got) == len(set(got)), f"an event fired twice: {sorted(got)}"
        return set(got)

    def final_loops() -> int:
        with use_workspace(ALL_WORKSPACES):
            return sum(1 for x in loops.list_loops("pm") if not x.active)

    a = Replica(postgres_uri, tmp_path, policies, "a")
    b = Replica(postgres_uri, tmp_path, policies, "b")  # both start at once
    try:
        _until(lambda: a.leader() is not None and b.leader() is not None, 90, "both answer")
        _until(lambda: _leads(a) or _leads(b), 30, "one replica leads")
        leader, follower = (a, b) if _leads(a) else (b, a)
        assert not _leads(follower)
        events(3)
        store.append_event("alert.firing", "drift_share/pm", {})
        _until(lambda: fired() == set(seqs) and final_loops() == 1, 60, "the first work done")

        leader.proc.send_signal(signal.SIGKILL)  # the leader dies mid-flight
        leader.proc.wait(10)
        killed = time.monotonic()
        events(3)
        store.append_event("alert.firing", "drift_share/pm", {})
        _until(lambda: _leads(follower), 15, "the follower takes over")
        took = time.monotonic() - killed
        _until(lambda: fired() == set(seqs) and final_loops() == 2, 60, "the second work done")

        # The new leader loses its database session: it steps down (then, alone, leads
        # again in a later epoch; with another replica up, that one would take over).
        epoch = (follower.leader() or {})["epoch"]
        admin = postgres_uri.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(admin, autocommit=True) as conn:
            n = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                             "WHERE application_name = %s",
                             (f"loopml-leader {follower.proc.pid}",)).fetchone()
        assert n and n[0] == 1
        _until(lambda: "steps down" in follower.log.read_text(), 15, "the leader steps down")

        def new_term() -> bool:
            info = follower.leader() or {}
            return bool(info.get("leader")) and info["epoch"] > epoch

        _until(new_term, 20, "a leader in a later epoch")
        events(3)
        store.append_event("alert.firing", "drift_share/pm", {})
        _until(lambda: fired() == set(seqs) and final_loops() == 3, 60, "the last work done")
        time.sleep(1.5)  # a replica running twice would add runs or moves now
        assert fired() == set(seqs) and len(seqs) == 9
        with use_workspace(ALL_WORKSPACES):
            all_loops = loops.list_loops("pm")
        assert len(all_loops) == 3
        moves = collections.Counter((e.loop_id, e.action) for e in loops.history("pm")
                                    if e.loop_id and e.action != "ignored")
        assert moves and max(moves.values()) == 1, moves
        print(f"failover after kill -9: {took:.1f}s")
        assert took < 15
        log = follower.log.read_text()
        assert "leads the control plane (epoch" in log and "follows" in log
    finally:
        for r in (a, b):
            r.stop()
        store.close()
