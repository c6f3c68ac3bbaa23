"""``loopml pipeline ...`` in subprocesses, and a real ``loopml server`` running an event
trigger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], home: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOOPML_HOME": str(home)}
    env.pop("LOOPML_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", "loopml", "pipeline", *args, *extra],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


def test_run_fail_resume_show(tmp_path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    ok = _run(["run", "tests.pipelines.flows:training", "-p", "n=30", "-p", "c=0.5"], home)
    assert ok.returncode == 0, ok.stderr
    assert "SUCCEEDED" in ok.stdout and "evaluate" in ok.stdout
    marker = tmp_path / "m"
    bad = _run(["run", "tests.pipelines.flows:branches", "-p", f"marker_dir={marker}"], home)
    assert bad.returncode == 1
    assert "UPSTREAM_FAILED" in bad.stdout and "Step(s) failed: breaks" in bad.stderr
    runs = _run(["runs", "--pipeline", "branches"], home)
    run_id = runs.stdout.split()[0]
    (marker / "fixed").touch()
    again = _run(["resume", run_id], home)
    assert again.returncode == 0, again.stdout + again.stderr
    shown = json.loads(_run(["show", run_id, "--json"], home).stdout)
    assert shown["run"]["status"] == "SUCCEEDED" and shown["run"]["attempt"] == 2
    assert {s["status"] for s in shown["steps"]} == {"SUCCEEDED"}


def test_usage_errors_exit_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    r = _run(["lint", "tests.pipelines.flows:training", "-p", "nn=1"], home)
    assert r.returncode == 2 and "Did you mean 'n'?" in r.stderr
    r = _run(["run", "tests.pipelines.flows:unstorable"], home)
    assert r.returncode == 2 and "cannot store between steps" in r.stderr
    r = _run(["run", "tests.pipelines.flows:training", "--executor", "spark"], home)
    assert r.returncode == 2 and "Unknown executor" in r.stderr
    r = _run(["run", "nowhere:p"], home)
    assert r.returncode == 2 and "Cannot import module 'nowhere'" in r.stderr
    r = _run(["schedule", "tests.pipelines.flows:tick", "--cron", "hourly"], home)
    assert r.returncode == 2 and "not a cron expression" in r.stderr
    r = _run(["show", "0" * 32], home)
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = _run(["lint", "tests.pipelines.flows:training"], home)
    assert r.returncode == 0 and "split  <- make" in r.stdout


def test_schedule_list_unschedule(tmp_path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    r = _run(["schedule", "tests.pipelines.flows:tick", "--cron", "0 3 * * *",
              "-p", "marker_dir=/tmp/x"], home)
    assert r.returncode == 0, r.stderr
    r = _run(["trigger", "tests.pipelines.flows:on_event", "--on", "alert.firing",
              "--subject", "drift*", "-p", "marker_dir=/tmp/x"], home)
    assert r.returncode == 0, r.stderr
    listed = _run(["triggers"], home).stdout
    assert "tick-cron" in listed and "on_event-event" in listed and "0 3 * * *" in listed
    assert _run(["unschedule", "tick-cron"], home).returncode == 0
    assert "tick-cron" not in _run(["triggers"], home).stdout
    assert _run(["unschedule", "tick-cron"], home).returncode == 2


@pytest.mark.timeout(180)
def test_server_runs_event_triggers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    env = {**os.environ, "LOOPML_HOME": str(tmp_path / "home")}
    env.pop("LOOPML_TRACKING_URI", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "loopml", "server", "--port", str(port), "--trigger-interval",
         "0.2", "--pipelines", "tests.pipelines.flows:on_event"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        marker = tmp_path / "m"
        r = _run(["trigger", "tests.pipelines.flows:on_event", "--on", "alert.firing",
                  "-p", f"marker_dir={marker}", "--tracking-uri", url], tmp_path)
        assert r.returncode == 0, r.stderr
        seq = httpx.post(f"{url}/api/loopml/v1/events", json={
            "type": "alert.firing", "subject": "drift/fraud", "payload": {"v": 1}}).json()["seq"]
        deadline = time.time() + 60
        runs: list = []  # type: ignore[type-arg]
        while time.time() < deadline:
            runs = httpx.get(f"{url}/api/loopml/v1/pipelines/runs").json()["runs"]
            if runs and runs[0]["status"] in ("SUCCEEDED", "FAILED"):
                break
            time.sleep(0.1)
        assert runs and runs[0]["status"] == "SUCCEEDED", runs
        assert runs[0]["params"]["event"]["seq"] == seq
        assert runs[0]["trigger"]["trigger"] == "on_event-event"
        assert len(list(marker.glob("event-*"))) == 1
        # The server runs only what it was started with: other pipelines are refused.
        r = _run(["schedule", "tests.pipelines.flows:tick", "--cron", "0 3 * * *",
                  "-p", f"marker_dir={marker}", "--tracking-uri", url], tmp_path)
        assert r.returncode == 2 and "is not registered" in r.stderr, r.stderr
    finally:
        proc.terminate()
        proc.wait(20)
