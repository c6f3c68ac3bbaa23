from __future__ import annotations

import os
import subprocess
import sys


def _run(args, home):
    env = {**os.environ, "LOOPML_HOME": str(home), "COLUMNS": "200"}
    env.pop("LOOPML_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", "loopml", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_demo_tracks_runs_and_lists_them(tmp_path):
    out = _run(["demo"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Leaderboard" in out.stdout and "logreg-C1.0" in out.stdout
    listed = _run(["runs", "list", "--experiment", "loopml-demo", "--filter",
                   "metrics.roc_auc > 0.9", "--order-by", "metrics.roc_auc DESC"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "6 run(s)" in listed.stdout
    missing = _run(["runs", "list", "--experiment", "nope"], tmp_path)
    assert missing.returncode == 1 and "no experiment" in missing.stderr


def test_help_is_precise():
    out = subprocess.run([sys.executable, "-m", "loopml", "--help"], capture_output=True, text=True)
    for cmd in ("demo", "server", "gc", "runs", "experiments"):
        assert cmd in out.stdout
    srv = subprocess.run([sys.executable, "-m", "loopml", "server", "--help"], capture_output=True,
                         text=True, env={**os.environ, "COLUMNS": "200"})
    for flag in ("--host", "--port", "--backend-store-uri", "--artifacts-destination", "--workers",
                 "--auth-token-file", "--insecure"):
        assert flag in srv.stdout
