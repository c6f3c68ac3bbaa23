"""The Ray executor on a real local cluster of two nodes (``ray start --head`` plus a second
node with a custom resource): resource placement, and a worker killed mid-step that the
engine retries."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI, free_port

ROOT = Path(__file__).resolve().parents[2]


def _ray_bin() -> str:
    exe = Path(os.sys.executable).with_name("ray")  # type: ignore[attr-defined]
    return str(exe) if exe.exists() else (shutil.which("ray") or "")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    try:
        import ray  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("Ray is not installed; CI=true requires it (pip install -e '.[dev]')")
        pytest.skip("Ray is not installed (pip install 'loopml[ray]')")
    ray_bin = _ray_bin()
    port = free_port()
    temp = tmp_path_factory.mktemp("ray")
    # Workers import the test steps by module name, as cluster nodes would import installed code.
    # Token auth off on every node and in this process: a ~/.ray/auth_token left by an
    # earlier local Ray (a benchmark, say) otherwise makes the second node's join fail.
    os.environ["RAY_AUTH_MODE"] = "disabled"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--num-cpus=1", "--disable-usage-stats"]
    subprocess.run([ray_bin, "start", "--head", f"--port={port}", "--include-dashboard=false",
                    f"--temp-dir={temp}", '--resources={"head_node": 1}', *common],
                   check=True, env=env, capture_output=True, timeout=120)
    try:
        subprocess.run([ray_bin, "start", f"--address=127.0.0.1:{port}",
                        '--resources={"trainer": 1}', *common],
                       check=True, env=env, capture_output=True, timeout=120)
        yield f"127.0.0.1:{port}"
    finally:
        import ray

        ray.shutdown()
        subprocess.run([ray_bin, "stop", "--force"], env=env, capture_output=True, timeout=120)


@pytest.fixture
def client(tmp_path):  # type: ignore[no-untyped-def]
    from loopml.store.sql import SqlStore
    from loopml.tracking._client import TrackingClient

    return TrackingClient(store=SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}",
                                         str(tmp_path / "artifacts")))


@pytest.mark.timeout(240)
def test_resources_place_the_step_on_the_second_node(cluster: str, client) -> None:  # type: ignore[no-untyped-def]
    import ray

    from tests.pipelines import ray_flows

    res = ray_flows.placed.run(client=client, executor=f"ray:{cluster}", cache=False)
    assert res.succeeded, res.run.error
    trainer_nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]
                     and n["Resources"].get("trainer")}
    head_nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]
                  and n["Resources"].get("head_node")}
    assert res.output("on_trainer")["node"] in trainer_nodes
    assert res.output("on_head")["node"] in head_nodes
    assert res.output("merge") == 2


@pytest.mark.timeout(240)
def test_worker_killed_mid_step_is_retried(cluster: str, client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.pipelines import flows

    res = flows.crashing.run({"marker_dir": str(tmp_path / "m")}, client=client,
                             executor=f"ray:{cluster}")
    assert res.succeeded, res.run.error
    step = res.steps["dies_once"]
    assert step.attempts == 2
    assert len(list((tmp_path / "m").glob("dies-*"))) == 2


@pytest.mark.timeout(240)
def test_parallel_tuning_trials_on_ray(cluster: str, client) -> None:  # type: ignore[no-untyped-def]
    from loopml.tuning import tune, uniform
    from tests.tuning import objectives as o

    r = tune(o.curve, {"x": uniform(0, 10)}, n_trials=8, sampler="random", pruner="median",
             parallelism=2, executor=f"ray:{cluster}", seed=1, client=client)
    assert len(r.trials) == 8 and {t.state for t in r.trials} <= {"COMPLETE", "PRUNED"}
    assert r.best_value < 10
