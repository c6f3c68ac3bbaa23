"""Distributed training steps on Ray Train: ``@step(distributed=TorchDDP(workers=2))`` runs
one training function on ``workers`` Ray workers at once, as PyTorch DistributedDataParallel
(``ray.train.torch.TorchTrainer``: Ray starts the workers, sets up the gloo/NCCL process
group and places them on the cluster; loopml never schedules anything itself).

Inside the function, ``train_context()`` gives the worker's rank and the helpers:

- ``ctx.prepare_model(model)`` wraps the model in DDP (``ray.train.torch.prepare_model``);
- ``ctx.report(metrics, state)`` reports one epoch: rank 0 logs ``metrics`` to the step's
  tracking run and saves ``state`` (a dict of tensors and numbers, written with
  ``torch.save``) as a checkpoint in the artifact store (under the pipeline run's
  ``steps/<step>/train``); every rank must call it (Ray Train synchronises on it);
- ``ctx.restore()`` returns the last checkpoint's ``state`` (None on a first start). When a
  worker dies, Ray Train restarts the group (``FailureConfig(max_failures)``) and the
  function resumes from there; states are read with ``torch.load(weights_only=True)``, so a
  checkpoint cannot carry code.

The step's output is ``{"metrics": last reported metrics, "checkpoint": its URI,
"workers": n}``. The cluster is the one ``ray.init`` already joined, else
``address`` / ``RAY_ADDRESS``, else a local one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loopml.errors import InvalidParameterValue

STATE_FILE = "state.pt"


@dataclass(frozen=True)
class TorchDDP:
    """``workers``: Ray workers (processes), each with ``cpus_per_worker`` CPUs (and
    ``gpus_per_worker`` GPUs: NCCL then, else gloo); ``max_failures``: worker-group restarts
    from the last checkpoint before the step fails; ``address``: the Ray cluster."""

    workers: int = 2
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    max_failures: int = 2
    address: str | None = None

    def __post_init__(self) -> None:
        if self.workers < 1 or self.max_failures < 0 or self.cpus_per_worker <= 0:
            raise InvalidParameterValue(
                f"TorchDDP(workers={self.workers}, max_failures={self.max_failures}, "
                f"cpus_per_worker={self.cpus_per_worker}): workers must be >= 1, "
                "max_failures >= 0 and cpus_per_worker > 0.")

    def run(self, fn: Callable[..., Any], kwargs: dict[str, Any], env: TrainEnv) -> dict[str, Any]:
        return _fit(self, fn, kwargs, env)


@dataclass(frozen=True)
class TrainEnv:
    """Where a distributed step reports: its tracking run and its checkpoint folder."""

    name: str
    tracking_uri: str
    proxy_root: str | None
    run_id: str
    storage: str  # a local folder or s3://...


class TrainContext:
    """What the training function sees on each worker (``train_context()``)."""

    def __init__(self, env: TrainEnv) -> None:
        import ray.train

        self.env = env
        ctx = ray.train.get_context()
        self.rank = ctx.get_world_rank()
        self.world_size = ctx.get_world_size()
        self._client: Any = None

    def prepare_model(self, model: Any) -> Any:
        import ray.train.torch

        return ray.train.torch.prepare_model(model)

    def prepare_data_loader(self, loader: Any) -> Any:
        import ray.train.torch

        return ray.train.torch.prepare_data_loader(loader)

    def restore(self) -> dict[str, Any] | None:
        import ray.train
        import torch

        ckpt = ray.train.get_checkpoint()
        if ckpt is None:
            return None
        with ckpt.as_directory() as d:
            state: dict[str, Any] = torch.load(Path(d) / STATE_FILE, weights_only=True)
        return state

    def report(self, metrics: dict[str, float], state: dict[str, Any] | None = None,
               step: int | None = None) -> None:
        """One epoch's metrics (logged to tracking by rank 0) and, from rank 0, the state
        to resume from. Every rank calls it."""
        import ray.train
        import torch

        if self.rank != 0:
            ray.train.report(dict(metrics), checkpoint=None)
            return
        client = self._tracking()
        for k, v in metrics.items():
            client.log_metric(self.env.run_id, k, float(v), step=step or 0)
        if state is None:
            ray.train.report(dict(metrics), checkpoint=None)
            return
        with tempfile.TemporaryDirectory() as d:
            torch.save(state, Path(d) / STATE_FILE)
            ray.train.report(dict(metrics), checkpoint=ray.train.Checkpoint.from_directory(d))

    def _tracking(self) -> Any:
        if self._client is None:
            from loopml.tracking._client import TrackingClient

            self._client = TrackingClient(self.env.tracking_uri, proxy_root=self.env.proxy_root)
        return self._client


_CTX: list[TrainContext] = []


def train_context() -> TrainContext:
    """The current worker's context; raises ``InvalidState`` outside a distributed step."""
    if not _CTX:
        from loopml.errors import InvalidState

        raise InvalidState("train_context() is only available inside a step run with "
                           "distributed=TorchDDP(...).")
    return _CTX[-1]


def _worker_loop(config: dict[str, Any]) -> None:
    """Ray Train's per-worker function: bind the context, call the user's function."""
    _CTX.append(TrainContext(config["env"]))
    try:
        config["fn"](**config["kwargs"])
    finally:
        _CTX.pop()


def storage_for(artifact_uri: str, proxy_root: str | None, node: str) -> str:
    """The checkpoint folder of step ``node`` under the pipeline's artifact root: a local
    path or s3:// URI that every Ray worker can reach."""
    uri = artifact_uri.rstrip("/")
    if uri.startswith("mlflow-artifacts:") and proxy_root:
        uri = proxy_root.rstrip("/") + "/" + uri.split(":", 1)[1].lstrip("/")
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    if "://" in uri and not uri.startswith("s3://"):
        raise InvalidParameterValue(
            f"A distributed step keeps its checkpoints in the artifact store, which must be a "
            f"folder or s3:// for Ray workers to reach it; got {artifact_uri}.")
    return f"{uri}/steps/{node}/train"


def _fit(spec: TorchDDP, fn: Callable[..., Any], kwargs: dict[str, Any],
         env: TrainEnv) -> dict[str, Any]:
    import ray
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    if not ray.is_initialized():
        ray.init(address=spec.address or os.environ.get("RAY_ADDRESS") or None,
                 log_to_driver=False)
    per_worker = {"CPU": spec.cpus_per_worker}
    if spec.gpus_per_worker:
        per_worker["GPU"] = spec.gpus_per_worker
    if not env.storage.startswith("s3://"):
        Path(env.storage).mkdir(parents=True, exist_ok=True)
    trainer = TorchTrainer(
        _worker_loop, train_loop_config={"fn": fn, "kwargs": kwargs, "env": env},
        scaling_config=ScalingConfig(num_workers=spec.workers, use_gpu=bool(spec.gpus_per_worker),
                                     resources_per_worker=per_worker),
        run_config=RunConfig(name=env.name, storage_path=env.storage,
                             failure_config=FailureConfig(max_failures=spec.max_failures)),
    )
    result = trainer.fit()
    if result.error is not None:
        raise RuntimeError(f"Distributed training failed: {result.error}")
    ckpt = result.checkpoint
    return {"metrics": dict(result.metrics or {}), "workers": spec.workers,
            "checkpoint": ckpt.path if ckpt is not None else None}


__all__ = ["TorchDDP", "TrainContext", "TrainEnv", "storage_for", "train_context"]
