"""DDP on Ray Train: the same training job on 2 workers vs 1, on a local Ray cluster.

    PYTHONPATH=src:. python bench/train_ray.py [--rows 65536] [--epochs 3] [--address HOST:PORT]

Runs ``tests.pipelines.dist_flows.fit`` (linear regression, minibatches of 64, SGD) through
``loopml.pipelines.distributed.TorchDDP`` with ``workers=1`` and then ``workers=2``, each as a
one-step pipeline, and prints per configuration: wall time of the step (Ray Train start-up,
process-group set-up, training and checkpoints included), training throughput (rows per
second, from the last epoch, as rank 0 reports it), and the ratio 2-vs-1.

Honest expectations for a 2-core machine: each DDP step does an all-reduce of the gradients
over gloo (TCP on loopback) per minibatch, and with a model of 17 parameters that
synchronisation costs more than the compute it splits, so 2 workers are not faster than one
here; Ray Train's start-up (two worker processes importing torch) dominates the wall time of
short jobs. The point of DDP is models and data large enough that compute dominates, on
nodes with cores (or GPUs) to spare. Without ``--address`` it starts a local cluster with
2 CPUs in this process.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def _one(workers: int, rows: int, epochs: int, root: Path) -> tuple[float, float]:
    from tests.pipelines.dist_flows import fit

    from loopml.pipelines import pipeline, step
    from loopml.pipelines.distributed import TorchDDP
    from loopml.store.sql import SqlStore
    from loopml.tracking._client import TrackingClient

    @step(name=f"train{workers}", distributed=TorchDDP(workers=workers, max_failures=0))
    def train(epochs: int, rows: int) -> None:
        fit(epochs, -1, "", rows)

    @pipeline
    def bench(epochs: int = 3, rows: int = 4096):  # type: ignore[no-untyped-def]
        train(epochs, rows)

    db = f"sqlite:///{root / f'db{workers}.sqlite'}"
    client = TrackingClient(db, store=SqlStore(db, str(root / "artifacts")))
    t0 = time.perf_counter()
    res = bench.run({"epochs": epochs, "rows": rows}, client=client, cache=False)
    wall = time.perf_counter() - t0
    assert res.succeeded, res.run.error
    return wall, float(res.output(f"train{workers}")["metrics"]["rows_per_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=65536)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--address", default=None, help="a running Ray cluster (default: local)")
    a = ap.parse_args()
    import os

    import ray

    ray.init(address=a.address, num_cpus=None if a.address else 2, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(
                 [str(Path("src").resolve()), str(Path(".").resolve())])}})
    with tempfile.TemporaryDirectory() as d:
        one = _one(1, a.rows, a.epochs, Path(d))
        two = _one(2, a.rows, a.epochs, Path(d))
    print(f"{'':12}{'wall s':>10}{'rows/s':>14}")
    print(f"{'1 worker':12}{one[0]:10.1f}{one[1]:14.0f}")
    print(f"{'2 workers':12}{two[0]:10.1f}{two[1]:14.0f}")
    print(f"2 vs 1: wall time x{two[0] / one[0]:.2f}, throughput x{two[1] / one[1]:.2f} "
          f"({os.cpu_count()} cores; rows {a.rows}, epochs {a.epochs})")
    ray.shutdown()


if __name__ == "__main__":
    main()
