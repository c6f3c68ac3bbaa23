"""``loopml demo``: the closed loop end to end (shorter configuration) while another process
keeps both cores busy, a second run in the same folder starting from its own state, the
printed commands working after it exits, a bad challenger rolled back; and precise help."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


def _run(args, home, timeout=600, env_extra=None):  # type: ignore[no-untyped-def]
    env = {**os.environ, "LOOPML_HOME": str(home), "COLUMNS": "200", **(env_extra or {})}
    env.pop("LOOPML_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", "loopml", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def _spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def busy_cores(n: int = 2) -> Iterator[None]:
    """Keep ``n`` cores busy (the demo's decisions must not depend on machine load)."""
    procs = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(n)]
    for p in procs:
        p.start()
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.join(5)


def _store_of(out: str) -> Path:
    """The run's own folder, from the command the demo prints at the end."""
    m = re.search(r"LOOPML_HOME=(\S+) loopml loop history", out)
    assert m, out[-2000:]
    return Path(m.group(1))


def _closed(out: subprocess.CompletedProcess[str]) -> Path:
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-3000:]
    assert "the loop closed" in out.stdout
    assert "PROMOTED" in out.stdout and "pm-failure v2" in out.stdout
    for action in ("triggered", "retrained", "gate_passed", "canary_started", "promoted"):
        assert action in out.stdout
    return _store_of(out.stdout)


def _commands_work(store: Path) -> None:
    """What the demo prints is readable after it exits, from that run's store."""
    hist = _run(["loop", "history", "pm-failure"], store, 60)
    assert hist.returncode == 0 and "promoted" in hist.stdout, hist.stdout + hist.stderr
    status = _run(["loop", "status"], store, 60)
    assert "PROMOTED" in status.stdout
    runs = _run(["pipeline", "runs"], store, 60)
    assert "train" in runs.stdout and "retrain" in runs.stdout


@pytest.mark.timeout(650)
def test_demo_closes_the_loop_on_a_busy_machine(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with busy_cores():
        store = _closed(_run(["demo", "--fast"], tmp_path))
    _commands_work(store)
    assert store.parent == tmp_path / "demo"


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_demo_twice_and_five_times_under_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 15: each run starts from its own state (a second run does not report the
    first run's challenger), and under load it promotes every time and rolls a deliberately
    bad challenger back every time."""
    stores = []
    with busy_cores():
        for _ in range(5):
            stores.append(_closed(_run(["demo", "--fast"], tmp_path)))
            bad = _run(["demo", "--fast", "--bad-challenger"], tmp_path)
            assert bad.returncode == 0, bad.stdout[-4000:] + bad.stderr[-2000:]
            assert "ROLLED_BACK" in bad.stdout
    assert len(set(stores)) == 5
    for store in stores:
        _commands_work(store)


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
    assert "--bad-challenger" in demo.stdout
