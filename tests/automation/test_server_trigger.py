"""``POST /api/loopml/v1/loops/trigger`` on a real ``loopml server --policies``: the manual
trigger reaches the policies the server was started with (regression: the route used to
answer "no controller" even when the server ran one)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
def test_manual_trigger_through_the_server(tmp_path) -> None:  # type: ignore[no-untyped-def]
    policy = {"model": "pm", "deployment": "pm", "log_dir": str(tmp_path / "log"),
              "retrain": {"pipeline": "tests.automation.flows:retrain",
                          "params": {"pause": 30.0}}}
    path = tmp_path / "policies.yaml"
    path.write_text(yaml.safe_dump(policy))
    port = free_port()
    # ROOT for `tests.automation.flows`, before (not instead of) the caller's path, so the
    # server is the loopml under test.
    pypath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "LOOPML_HOME": str(tmp_path / "home"), "PYTHONPATH": pypath}
    env.pop("LOOPML_TRACKING_URI", None)
    proc = subprocess.Popen([sys.executable, "-m", "loopml", "server", "--port", str(port),
                             "--policies", str(path), "--no-triggers",
                             "--pipelines", "tests.automation.flows:retrain"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/loopml/v1/loops"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health")
                break
            except httpx.TransportError:
                time.sleep(0.2)
        first = httpx.post(f"{url}/trigger", json={"model": "pm"})
        assert first.status_code == 200, first.text
        assert first.json()["started"] is True
        again = httpx.post(f"{url}/trigger", json={"model": "pm"}).json()
        assert again["started"] is False  # one loop per model
        unknown = httpx.post(f"{url}/trigger", json={"model": "other"})
        assert unknown.status_code == 404 and "No loop policy" in unknown.json()["message"]
        loops = httpx.get(url, params={"model": "pm"}).json()["loops"]
        assert len(loops) == 1 and loops[0]["trigger"]["reason"] == "manual (API)"
    finally:
        proc.terminate()
        proc.wait(20)
