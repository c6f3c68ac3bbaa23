"""The flavor interface: one module per framework, listed in ``flavors.FLAVORS``.

A flavor knows how to write a native model into a folder in MLflow's layout for that flavor
(so MLflow can load it), how to read it back, and how to predict with it. Loading gets an
explicit ``trust`` flag and must not deserialise a pickle without it.
"""

from __future__ import annotations

import abc
import importlib.metadata
from pathlib import Path
from typing import Any

from loopml.errors import InvalidParameterValue


class Flavor(abc.ABC):
    name: str  # the key under "flavors" in MLmodel, e.g. "sklearn"
    packages: tuple[str, ...] = ()  # pip distributions the model needs, pinned at save time

    @abc.abstractmethod
    def handles(self, model: Any) -> bool:
        """True when this flavor can save ``model``."""

    @abc.abstractmethod
    def save(self, model: Any, folder: Path, **options: Any) -> dict[str, Any]:
        """Write the model's files into ``folder``; return the flavor's MLmodel config."""

    @abc.abstractmethod
    def load(self, folder: Path, conf: dict[str, Any], trust: bool) -> Any:
        """Read the native model back. Raise ``UntrustedModel`` before touching a pickle
        unless ``trust`` is true."""

    def predict(self, native: Any, data: Any) -> Any:
        return native.predict(data)

    def predict_proba(self, native: Any, data: Any) -> Any:
        fn = getattr(native, "predict_proba", None)
        if fn is None:
            raise InvalidParameterValue(f"This {self.name} model has no predict_proba.")
        return fn(data)

    def conf_version(self) -> str | None:
        return version_of(self.packages[0]) if self.packages else None


def version_of(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def data_file(folder: Path, conf: dict[str, Any], key: str, default: str) -> Path:
    """The flavor's data file, confined to the model folder (MLmodel is not trusted input)."""
    rel = str(conf.get(key) or default)
    path = (folder / rel).resolve()
    if folder.resolve() not in path.parents and path != folder.resolve():
        raise InvalidParameterValue(
            f"MLmodel points {key} at {rel!r}, outside the model folder. Refusing to read it."
        )
    if not path.exists():
        raise InvalidParameterValue(f"The model folder has no {rel!r} (MLmodel key {key!r}).")
    return path


def class_path(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"
