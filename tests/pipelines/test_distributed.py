"""``@step(distributed=TorchDDP(workers=2))`` on a real two-node local Ray cluster: Ray Train
runs DDP on both nodes, rank 0 logs to tracking, checkpoints land in the artifact store, and
a worker killed with SIGKILL mid-training resumes from the last checkpoint."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI, free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    try:
        import ray
        import ray.train.torch  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        if IN_CI:
            pytest.fail(f"{e.name} is not installed; CI=true requires it")
        pytest.skip(f"{e.name} is not installed (pip install 'loopml[ray,torch]')")
    exe = Path(sys.executable).with_name("ray")
    ray_bin = str(exe) if exe.exists() else (shutil.which("ray") or "ray")
    port = free_port()
    temp = tmp_path_factory.mktemp("ray")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    # the tree under test (src/) and the test flows, as installed code on cluster nodes
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
           "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--num-cpus=1", "--disable-usage-stats"]
    try:
        for extra in ([f"--port={port}", "--head", "--include-dashboard=false"],
                      [f"--address=127.0.0.1:{port}"]):
            subprocess.run([ray_bin, "start", *extra, f"--temp-dir={temp}", *common],
                           check=True, env=env,
                           capture_output=True, timeout=180)
        ray.init(address=f"127.0.0.1:{port}", log_to_driver=False)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        _stop(temp)
        err = getattr(e, "stderr", b"") or b""
        msg = f"the local Ray cluster did not start: {err.decode(errors='replace')[-300:]}"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        ray.shutdown()
        _stop(temp)


def _stop(temp: Path) -> None:
    """End this cluster's processes (found by their temp folder), not every Ray on the
    machine as `ray stop` would."""
    import signal

    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if str(temp).encode() in (proc / "cmdline").read_bytes():
                os.kill(int(proc.name), signal.SIGKILL)


@pytest.fixture
def client(tmp_path):  # type: ignore[no-untyped-def]
    from loopml.store.sql import SqlStore
    from loopml.tracking._client import TrackingClient

    return TrackingClient(f"sqlite:///{tmp_path / 'db.sqlite'}", store=SqlStore(
        f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts")))


def _epochs(marks: Path, rank: int) -> list[int]:
    return sorted(int(p.name.split("-")[1][5:]) for p in marks.glob(f"rank{rank}-epoch*"))


@pytest.mark.timeout(480)
def test_ddp_two_workers_logs_and_checkpoints(ray_cluster: str, client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.pipelines import dist_flows

    marks = tmp_path / "marks"
    marks.mkdir()
    res = dist_flows.ddp.run({"epochs": 3, "marker_dir": str(marks)}, client=client,
                             cache=False)
    assert res.succeeded, res.run.error
    out = res.output("train")
    assert out["workers"] == 2 and out["metrics"]["epoch"] == 2
    assert _epochs(marks, 0) == _epochs(marks, 1) == [0, 1, 2]  # both ranks trained
    ckpt = Path(out["checkpoint"])
    assert ckpt.is_dir() and (ckpt / "state.pt").exists()
    assert str(ckpt).startswith(str(tmp_path / "artifacts"))  # in the artifact store
    run_id = res.steps["train"].tracking_run_id
    history = client.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == [0, 1, 2]  # rank 0 only: one point per epoch


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_killed_worker_resumes_from_the_last_checkpoint(ray_cluster: str, client,  # type: ignore[no-untyped-def]
                                                        tmp_path) -> None:
    from tests.pipelines import dist_flows

    marks = tmp_path / "marks"
    marks.mkdir()
    res = dist_flows.ddp.run({"epochs": 5, "kill_at": 3, "marker_dir": str(marks)},
                             client=client, cache=False)
    assert res.succeeded, res.run.error
    assert (marks / "killed").exists()
    started = _epochs(marks, 0)
    # epochs 0-2 were checkpointed before the kill: the restarted group began at 3, not 0
    assert started.count(0) == 1 and started.count(3) == 2 and started[-1] == 4, started
    assert res.output("train")["metrics"]["epoch"] == 4
