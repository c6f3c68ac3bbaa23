"""ONNX, run with ONNX Runtime. The format is a protobuf: there is nothing to unpickle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from loopml.errors import InvalidParameterValue
from loopml.models._integrity import looks_like_pickle, refuse_untrusted
from loopml.models.flavors.base import Flavor, data_file, version_of


class OnnxSession:
    """An ONNX Runtime session with a predict() that feeds one array or a dict of them."""

    def __init__(self, path: Path, providers: list[str] | None = None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        # Small models on few cores: parallelism inside one inference costs more than it buys.
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3  # errors only: shape-hint warnings are noise here
        try:
            self.session = ort.InferenceSession(
                str(path), opts, providers=providers or ["CPUExecutionProvider"])
        except Exception as e:
            raise InvalidParameterValue(f"{path.name} is not a loadable ONNX model: {e}") from None
        self.inputs = self.session.get_inputs()
        self.outputs = [o.name for o in self.session.get_outputs()]

    def run(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict):
            feed = data
        else:
            arr = np.asarray(data)
            first = self.inputs[0]
            if "float" in first.type and arr.dtype != np.float32:
                arr = arr.astype(np.float32)
            elif "double" in first.type and arr.dtype != np.float64:
                arr = arr.astype(np.float64)
            elif "int64" in first.type and arr.dtype != np.int64:
                arr = arr.astype(np.int64)
            feed = {first.name: arr}
        return dict(zip(self.outputs, self.session.run(None, feed), strict=True))

    def predict(self, data: Any) -> Any:
        return next(iter(self.run(data).values()))

    def predict_proba(self, data: Any) -> Any:
        outs = list(self.run(data).values())
        if len(outs) < 2:
            raise InvalidParameterValue("This ONNX model has no probability output.")
        probs = outs[1]
        if isinstance(probs, list):  # skl2onnx's ZipMap output: a list of {class: p}
            return np.asarray([list(d.values()) for d in probs])
        return np.asarray(probs)


class OnnxFlavor(Flavor):
    name = "onnx"
    packages = ("onnx", "onnxruntime")

    def handles(self, model: Any) -> bool:
        return type(model).__name__ == "ModelProto" and type(model).__module__.startswith("onnx")

    def save(self, model: Any, folder: Path, **options: Any) -> dict[str, Any]:
        (folder / "model.onnx").write_bytes(model.SerializeToString())
        return {"onnx_version": version_of("onnx"), "data": "model.onnx",
                "providers": ["CPUExecutionProvider"], "onnx_session_options": None}

    def load(self, folder: Path, conf: dict[str, Any], trust: bool) -> Any:
        path = data_file(folder, conf, "data", "model.onnx")
        if looks_like_pickle(path):
            raise refuse_untrusted(path, "MLmodel says onnx but the file is a pickle")
        return OnnxSession(path, conf.get("providers"))
