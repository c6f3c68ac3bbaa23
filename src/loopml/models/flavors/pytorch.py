"""PyTorch: TorchScript (``torch.jit``), which loads without Python's pickle.

TorchScript archives are read by torch's own restricted unpickler, which rebuilds tensors and
scripted code but calls no arbitrary Python. A model saved by ``torch.save`` (MLflow's
default for eager modules) is a real pickle and needs trust. The layout is MLflow's
(``data/model.pth`` + ``pickle_module_info.txt``), so mlflow.pytorch loads either.
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

    def __init__(self, module: Any) -> None:
        self.module = module.eval()

    def predict(self, data: Any) -> np.ndarray:
        import torch

        x = torch.as_tensor(np.asarray(data, dtype=np.float32))
        with torch.inference_mode():
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
        path = base / "model.pth" if base.is_dir() else base
        if not path.is_file():
            raise InvalidParameterValue(
                f"PyTorch model folder has no {path.relative_to(folder)} (torch.export .pt2 "
                "models are not supported yet; save a TorchScript module).")
        if looks_like_pickle(path):
            if not trust:
                raise refuse_untrusted(path, "it was written by torch.save (a pickle)")
            return TorchPredictor(torch.load(path, weights_only=False))
        try:
            return TorchPredictor(torch.jit.load(str(path), map_location="cpu"))
        except Exception as e:
            raise InvalidParameterValue(f"{path.name} is not a TorchScript model: {e}") from None
