"""PyTorch autologging, as ``mlflow.pytorch.autolog``: PyTorch Lightning's ``Trainer.fit``, and
plain training loops that report through TensorBoard's ``SummaryWriter``.

Lightning (``lightning`` or ``pytorch_lightning``): params ``epochs`` and the optimizer's
(``optimizer_name``, ``lr``, ``weight_decay``, ... of its first param group); the trainer's
logged metrics at the end of every epoch (step = epoch); the module at ``model/``. With
``SummaryWriter``: ``add_scalar(tag, value, step)`` becomes a metric, ``add_hparams`` params.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from loopml.tracking.autolog._patch import Patches, current_session
from loopml.tracking.autolog._session import Options, Session, run_session


def install(patches: Patches, options: Options) -> None:
    for name in ("lightning.pytorch", "pytorch_lightning"):
        patches.after_import(name, lambda module: _patch_lightning(patches, options, module))
    patches.after_import("torch.utils.tensorboard.writer",
                         lambda module: _patch_writer(patches, options, module))


def _patch_lightning(patches: Patches, options: Options, pl: ModuleType) -> None:
    trainer = pl.Trainer
    patches.wrap(trainer, "fit", lambda fn: _fit_wrapper(fn, options, pl))


def _fit_wrapper(fn: Any, options: Options, pl: ModuleType) -> Any:
    def wrapper(self: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        if current_session() is not None:
            return fn(self, model, *args, **kwargs)

        def fit(s: Session) -> Any:
            s.log_params({"epochs": self.max_epochs})
            callback = _epoch_callback(s, pl)
            self.callbacks.append(callback)
            try:
                result = fn(self, model, *args, **kwargs)
            finally:
                self.callbacks.remove(callback)
            s.guard(lambda: _log_optimizer(s, self))
            s.log_metrics(_scalars(self.callback_metrics), step=self.current_epoch)
            if options.log_models:
                s.guard(lambda: _log_module(s, model))
            return result

        return run_session(options, "pytorch", fit)

    return wrapper


def _epoch_callback(s: Session, pl: ModuleType) -> Any:
    class EpochMetrics(pl.Callback):  # type: ignore[name-defined,misc]
        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            s.log_metrics(_scalars(trainer.callback_metrics), step=trainer.current_epoch)

        def on_validation_epoch_end(self, trainer: Any, module: Any) -> None:
            if not trainer.sanity_checking:
                s.log_metrics(_scalars(trainer.callback_metrics), step=trainer.current_epoch)

    return EpochMetrics()


def _scalars(metrics: Any) -> dict[str, float]:
    out = {}
    for key, value in dict(metrics or {}).items():
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError):
            continue
    return out


def _log_optimizer(s: Session, trainer: Any) -> None:
    optimizers = getattr(trainer, "optimizers", None) or []
    if not optimizers:
        return
    opt = optimizers[0]
    group = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
    s.log_params({"optimizer_name": type(opt).__name__, **group})


def _log_module(s: Session, module: Any) -> None:
    import torch

    from loopml.models import log_model

    module.eval()
    example = getattr(module, "example_input_array", None)
    if example is not None and not isinstance(example, torch.Tensor):
        example = None
    log_model(module, "model", input_example=example.numpy() if example is not None else None,
              registered_model_name=s.options.registered_model_name)


def _patch_writer(patches: Patches, options: Options, writer_module: ModuleType) -> None:
    writer = writer_module.SummaryWriter

    def add_scalar(fn: Any) -> Any:
        def wrapper(self: Any, tag: str, scalar_value: Any, global_step: int | None = None,
                    *args: Any, **kwargs: Any) -> Any:
            _to_active_run(options, lambda s: s.log_metrics({tag: float(scalar_value)},
                                                            step=global_step))
            return fn(self, tag, scalar_value, global_step, *args, **kwargs)
        return wrapper

    def add_hparams(fn: Any) -> Any:
        def wrapper(self: Any, hparam_dict: dict[str, Any], metric_dict: dict[str, Any],
                    *args: Any, **kwargs: Any) -> Any:
            _to_active_run(options, lambda s: (s.log_params(hparam_dict),
                                               s.log_metrics(metric_dict)))
            return fn(self, hparam_dict, metric_dict, *args, **kwargs)
        return wrapper

    patches.wrap(writer, "add_scalar", add_scalar)
    patches.wrap(writer, "add_hparams", add_hparams)


def _to_active_run(options: Options, log: Any) -> None:
    """SummaryWriter calls log to the current session's run, else the active run, else a run
    started for them (left open, as MLflow does; ``loopml.end_run()`` ends it)."""
    from loopml.tracking import _fluent

    session = current_session()
    if session is None:
        if not _fluent.has_run():
            _fluent.start_run()
        session = Session(options, "pytorch")  # the active run is not its own: never ended here
    log(session)
