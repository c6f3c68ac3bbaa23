"""PyTorch: TorchScript (``torch.jit``) written by loopml, read back only when trusted.

Every PyTorch format is treated as code, so each needs trust: a ``torch.save`` file
(MLflow's default for eager modules) is a pickle; a ``torch.export`` ``.pt2`` archive can hold
pickled payloads; and a TorchScript archive is a *program*: ``torch.jit.load`` compiles the
archive's code and unpickles its constants with torch's own unpickler, and PyTorch's security
policy (SECURITY.md, "models are programs") asks that untrusted models not be loaded outside
a sandbox. Digests do not help (whoever writes the file writes them).
Untrusted, a PyTorch model is refused with ``UntrustedModel``; convert it to ONNX (``loopml
models to-onnx --trust-pickle``) to serve it without trust. The layout is MLflow's (``data/model.pth`` +
``pickle_module_info.txt``), so mlflow.pytorch loads either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from loopml.errors import InvalidParameterValue
from loopml.models._integrity import looks_like_pickle, refuse_untrusted
from loopml.models.flavors.base import Flavor, data_file, version_of


class TorchPredictor:
    """Wraps a module: numpy in, numpy out, no autograd."""

    def __init__(self, module: Any, eval_mode: bool = True) -> None:
        # Exported programs have no eval(); they were captured in the mode they were saved in.
        self.module = module.eval() if eval_mode else module

    def predict(self, data: Any) -> np.ndarray:
        import torch

        x = torch.as_tensor(np.asarray(data, dtype=np.float32))
        # no_grad, not inference_mode: TorchScript modules reject inference tensors.
        with torch.no_grad():
            out = self.module(x)
        return out.detach().cpu().numpy()


class PyTorchFlavor(Flavor):
    name = "pytorch"
    packages = ("torch",)

    def handles(self, model: Any) -> bool:
        try:
            import torch
        except ImportError:
            return False
        return isinstance(model, torch.nn.Module)

    def save(self, model: Any, folder: Path, **options: Any) -> dict[str, Any]:
        import torch

        if not isinstance(model, torch.jit.ScriptModule):
            example = options.get("input_example")
            model = model.eval()
            try:
                model = torch.jit.script(model)
            except Exception:
                if example is None:
                    raise InvalidParameterValue(
                        "This module cannot be scripted with torch.jit.script; pass an "
                        "input_example so it can be traced instead.") from None
                model = torch.jit.trace(
                    model, torch.as_tensor(np.asarray(example, dtype=np.float32)))
        data = folder / "data"
        data.mkdir()
        torch.jit.save(model, str(data / "model.pth"))
        (data / "pickle_module_info.txt").write_text("mlflow.pytorch.pickle_module")
        return {"model_data": "data", "pytorch_version": version_of("torch"), "code": None,
                "loopml_format": "torchscript"}

    def load(self, folder: Path, conf: dict[str, Any], trust: bool) -> Any:
        import torch

        base = data_file(folder, conf, "model_data", "data")
        if base.is_dir() and (base / "model.pt2").is_file():
            # MLflow 3's default. A .pt2 archive can carry pickled payloads, and proving one
            # free of them needs a format walk torch does not offer yet: trust is required.
            if not trust:
                raise refuse_untrusted(base / "model.pt2", "torch.export archives can hold "
                                       "pickled data")
            return TorchPredictor(torch.export.load(str(base / "model.pt2")).module(),
                                  eval_mode=False)
        path = base / "model.pth" if base.is_dir() else base
        if not path.is_file():
            raise InvalidParameterValue(
                f"PyTorch model folder has no {path.relative_to(folder)}: expected a "
                "TorchScript data/model.pth or a torch.export data/model.pt2.")
        if looks_like_pickle(path):
            if not trust:
                raise refuse_untrusted(path, "it was written by torch.save (a pickle)")
            return TorchPredictor(torch.load(path, weights_only=False))
        if not trust:
            raise refuse_untrusted(path, "it is a TorchScript archive, whose code and pickled "
                                   "constants torch.jit.load runs")
        try:
            return TorchPredictor(torch.jit.load(str(path), map_location="cpu"))
        except Exception as e:
            raise InvalidParameterValue(f"{path.name} is not a TorchScript model: {e}") from None
