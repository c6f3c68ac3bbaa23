"""loopml.autolog on PyTorch: Lightning's Trainer.fit (metrics per epoch, optimizer params, the
module), TensorBoard's SummaryWriter in a plain loop, and patching a library imported later."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import loopml
from tests.tracking.autolog.conftest import metric_history, runs

torch = pytest.importorskip("torch")


def test_lightning_fit_logs_epochs_and_optimizer(tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    loopml.autolog(log_models=False)

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(3, 1)

        def training_step(self, batch, _idx):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_loss", loss, on_epoch=True, on_step=False)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)),
                                       batch_size=16)
    trainer = pl.Trainer(max_epochs=3, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=str(tmp_path))
    trainer.fit(Tiny(), data)
    (run,) = runs()
    assert run.data.params["epochs"] == "3"
    assert run.data.params["optimizer_name"] == "SGD" and run.data.params["lr"] == "0.05"
    hist = metric_history(run.info.run_id, "train_loss")
    assert [s for s, _ in hist][:3] == [0, 1, 2] and hist[2][1] < hist[0][1]


def test_summary_writer_scalars_become_metrics(tmp_path):
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    loopml.autolog()
    with loopml.start_run() as run:
        writer = SummaryWriter(log_dir=str(tmp_path / "tb"))
        for step in range(3):
            writer.add_scalar("loss", 1.0 / (step + 1), step)
        writer.add_hparams({"lr": 0.1}, {"final_loss": 0.33})
        writer.close()
    assert [v for _, v in metric_history(run.info.run_id, "loss")] == pytest.approx([1.0, 0.5, 1 / 3])
    (stored,) = runs()
    assert stored.data.params["lr"] == "0.1"


def test_library_imported_after_autolog_is_patched(tmp_path):
    """autolog() imports nothing; the patch lands when the script imports the library."""
    script = textwrap.dedent(f"""
        import os, sys
        os.environ["LOOPML_HOME"] = {str(tmp_path / "home")!r}
        import loopml
        loopml.autolog(log_models=False)
        assert "sklearn" not in sys.modules and "lightgbm" not in sys.modules
        from sklearn.linear_model import LinearRegression
        LinearRegression().fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])
        store = loopml.tracking.client().store
        (run,) = store.search_runs([store.get_experiment_by_name("Default").experiment_id]).items
        print(sorted(run.data.metrics))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "training_r2_score" in out.stdout
