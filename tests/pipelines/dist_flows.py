"""A distributed (DDP) training step for the Ray Train tests: linear regression on a fixed
synthetic set, each worker on its shard; a marker folder records which epochs each attempt
started, and ``kill_at`` SIGKILLs rank 1 once at that epoch."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from loopml.pipelines import pipeline, step
from loopml.pipelines.distributed import TorchDDP, train_context


def fit(epochs: int, kill_at: int, marker_dir: str, rows: int = 4096) -> None:
    import torch

    ctx = train_context()
    torch.manual_seed(0)
    x = torch.randn(rows, 16)
    y = x @ torch.linspace(-1, 1, 16).unsqueeze(1) + 0.1 * torch.randn(rows, 1)
    xs, ys = x[ctx.rank::ctx.world_size], y[ctx.rank::ctx.world_size]
    model = ctx.prepare_model(torch.nn.Linear(16, 1))
    inner = getattr(model, "module", model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    start = 0
    state = ctx.restore()
    if state is not None:
        inner.load_state_dict(state["model"])
        start = int(state["epoch"]) + 1
    marks = Path(marker_dir)
    for epoch in range(start, epochs):
        if marker_dir:
            (marks / f"rank{ctx.rank}-epoch{epoch}-{os.getpid()}").touch()
        if ctx.rank == 1 and epoch == kill_at and not (marks / "killed").exists():
            (marks / "killed").touch()
            os.kill(os.getpid(), signal.SIGKILL)
        t0 = time.perf_counter()
        for i in range(0, len(xs), 64):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(xs[i:i + 64]), ys[i:i + 64])
            loss.backward()
            opt.step()
        ctx.report({"loss": float(loss), "epoch": epoch,
                    "rows_per_s": len(xs) * ctx.world_size / (time.perf_counter() - t0)},
                   {"model": inner.state_dict(), "epoch": epoch}, step=epoch)


@step(distributed=TorchDDP(workers=2, max_failures=2))
def train(epochs: int, kill_at: int, marker_dir: str) -> None:
    fit(epochs, kill_at, marker_dir)


@pipeline
def ddp(epochs: int = 3, kill_at: int = -1, marker_dir: str = ""):  # type: ignore[no-untyped-def]
    train(epochs, kill_at, marker_dir)
