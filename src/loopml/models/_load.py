"""``load``: a model URI -> a ``Model`` whose predict() checks its inputs first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loopml.errors import InvalidParameterValue
from loopml.models._integrity import verify_digests
from loopml.models._mlmodel import MLModel
from loopml.models.flavors import LOAD_ORDER, LOADER_MODULES, get_flavor
from loopml.models.flavors.base import Flavor
from loopml.models.signature import ModelSignature, enforce
from loopml.models.uris import resolve


class Model:
    """A loaded model: the native object, its flavor, its signature and its MLmodel."""

    def __init__(self, folder: Path, meta: MLModel, flavor: Flavor, native: Any,
                 uri: str | None = None) -> None:
        self.folder = folder
        self.meta = meta
        self.flavor = flavor
        self.native = native
        self.uri = uri
        self.signature = ModelSignature.from_dict(meta.signature) if meta.signature else None

    def prepare(self, data: Any) -> Any:
        """Check ``data`` against the signature and convert it to what the model expects."""
        x = enforce(self.signature, data)
        if self.flavor.name in ("sklearn", "lightgbm", "xgboost", "pytorch", "onnx") and \
                hasattr(x, "to_numpy") and not hasattr(self.native, "feature_names_in_"):
            # Fitted on arrays: hand it an array in the signature's column order.
            return x.to_numpy()
        return x

    def predict(self, data: Any) -> Any:
        return self.flavor.predict(self.native, self.prepare(data))

    def predict_proba(self, data: Any) -> Any:
        return self.flavor.predict_proba(self.native, self.prepare(data))

    def __repr__(self) -> str:
        return f"Model(flavor={self.flavor.name!r}, uri={self.uri!r})"


def choose_flavor(meta: MLModel, wanted: str | None) -> str:
    if wanted:
        if wanted not in meta.flavors:
            raise InvalidParameterValue(
                f"This model has no {wanted!r} flavor; it has {sorted(meta.flavors)}.")
        return wanted
    for name in LOAD_ORDER[:-1]:
        if name in meta.flavors:
            return name
    pyfunc = meta.flavors.get("python_function") or {}
    mapped = LOADER_MODULES.get(str(pyfunc.get("loader_module")))
    if mapped and (mapped in meta.flavors or mapped == "python_function"):
        return mapped
    raise InvalidParameterValue(
        f"loopml cannot load a model with flavors {sorted(meta.flavors)} (loader_module "
        f"{pyfunc.get('loader_module')!r}). Supported: sklearn, lightgbm, xgboost, pytorch, "
        "onnx, and python_function models saved with cloudpickle.")


def load_folder(folder: Path, trust: bool = False, flavor: str | None = None,
                uri: str | None = None) -> Model:
    meta = MLModel.load(folder)
    if meta.file_digests:
        verify_digests(folder, meta.file_digests)
    name = choose_flavor(meta, flavor)
    fl = get_flavor(name)
    native = fl.load(folder, meta.flavors[name], trust)
    return Model(folder, meta, fl, native, uri)


def load(uri: str | Path, trust: bool = False, flavor: str | None = None,
         client: Any = None) -> Model:
    """Load a model from any model URI (see ``loopml.models.uris``).

    Pickle-based files are refused unless ``trust=True`` or the registered version is marked
    trusted. ``flavor`` picks one flavor of a multi-flavor model (e.g. ``"onnx"``).
    ``client``: the ``TrackingClient`` whose stores ``models:/`` and ``runs:/`` URIs
    resolve through (library code passes its own; default: the fluent API's client).
    """
    resolved = resolve(str(uri), client)
    return load_folder(resolved.folder, trust or resolved.trusted, flavor, str(uri))
