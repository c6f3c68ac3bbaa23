"""ONNX, run with ONNX Runtime. The format is a protobuf: there is nothing to unpickle.

What an ONNX file can still do is name other files: a tensor stored as *external data*
carries a ``location`` that ONNX Runtime opens relative to the model's directory. A hostile
file could point it at ``/etc/shadow`` or ``../../secrets`` and have the bytes served back
as weights. ``external_data_problems`` checks every external location (initializers, node
attributes, subgraphs, functions) before a session is created: relative, no ``..``, and
still inside the model folder once symlinks are resolved. Otherwise the load is refused
with ``UntrustedModel`` unless the caller trusts the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from loopml.errors import InvalidParameterValue
from loopml.models._integrity import looks_like_pickle, refuse_untrusted
from loopml.models.flavors.base import Flavor, data_file, version_of


def _graph_tensors(graph: Any) -> Iterator[Any]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    for node in graph.node:
        yield from _attribute_tensors(node.attribute)


def _attribute_tensors(attributes: Any) -> Iterator[Any]:
    for a in attributes:
        if a.HasField("t"):
            yield a.t
        yield from a.tensors
        for sparse in [a.sparse_tensor] * a.HasField("sparse_tensor") + list(a.sparse_tensors):
            yield from (sparse.values, sparse.indices)
        if a.HasField("g"):
            yield from _graph_tensors(a.g)
        for g in a.graphs:
            yield from _graph_tensors(g)


def model_tensors(model: Any) -> Iterator[Any]:
    """Every TensorProto an ONNX model holds: graph, subgraphs, and local functions."""
    yield from _graph_tensors(model.graph)
    for fn in model.functions:
        for node in fn.node:
            yield from _attribute_tensors(node.attribute)


def external_data_problems(path: Path, folder: Path) -> list[str]:
    """The external-data locations in ``path`` that would read outside ``folder``.

    Parses the protobuf without loading external data. A location must be relative, free of
    ``..``, and resolve (symlinks followed) to a file under ``folder``."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise InvalidParameterValue(f"{path.name} is not a loadable ONNX model: {e}") from None
    root, base = folder.resolve(), path.parent
    bad = []
    for t in model_tensors(model):
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        loc = next((e.value for e in t.external_data if e.key == "location"), "")
        rel = Path(loc.replace("\\", "/"))
        target = (base / rel).resolve()
        if not loc or rel.is_absolute() or ".." in rel.parts or ":" in loc or \
                (target != root and root not in target.parents):
            bad.append(f"{t.name or '<unnamed tensor>'} -> {loc!r}")
    return bad


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
        if not trust and (bad := external_data_problems(path, folder)):
            # A trusted model may share weights from elsewhere; an untrusted one may not.
            raise refuse_untrusted(path, "it names external data outside the model folder "
                                   "(external data must sit in the folder, named by relative "
                                   "paths without '..')", bad)
        return OnnxSession(path, conf.get("providers"))
