"""``loopml demo``: the closed loop end to end (shorter configuration), and precise help."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _run(args, home, timeout=400):  # type: ignore[no-untyped-def]
    env = {**os.environ, "LOOPML_HOME": str(home), "COLUMNS": "200"}
    env.pop("LOOPML_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", "loopml", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


@pytest.mark.timeout(420)
def test_demo_closes_the_loop(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = _run(["demo", "--fast"], tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "the loop closed" in out.stdout
    assert "PROMOTED" in out.stdout and "pm-failure v2" in out.stdout
    for action in ("triggered", "retrained", "gate_passed", "canary_started", "promoted"):
        assert action in out.stdout
    # The audit log is readable afterwards from the CLI, from the same store.
    hist = _run(["loop", "history", "pm-failure"], tmp_path, 60)
    assert hist.returncode == 0 and "promoted" in hist.stdout
    status = _run(["loop", "status"], tmp_path, 60)
    assert "PROMOTED" in status.stdout
    runs = _run(["pipeline", "runs"], tmp_path, 60)
    assert "train" in runs.stdout and "retrain" in runs.stdout


def test_help_is_precise() -> None:
    out = subprocess.run([sys.executable, "-m", "loopml", "--help"], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "200"})
    for cmd in ("demo", "server", "gc", "runs", "experiments", "pipeline", "loop", "approve",
                "controller"):
        assert cmd in out.stdout
    srv = subprocess.run([sys.executable, "-m", "loopml", "server", "--help"], capture_output=True,
                         text=True, env={**os.environ, "COLUMNS": "200"})
    for flag in ("--host", "--port", "--backend-store-uri", "--artifacts-destination", "--workers",
                 "--auth-token-file", "--insecure", "--policies", "--monitors", "--triggers"):
        assert flag in srv.stdout
    demo = subprocess.run([sys.executable, "-m", "loopml", "demo", "--help"], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "200"})
    assert "--keep-running" in demo.stdout and "--fast" in demo.stdout
