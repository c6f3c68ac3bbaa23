"""scikit-learn: skops by default (no pickle), cloudpickle/pickle only when trusted.

Layout is MLflow's sklearn flavor (``pickled_model`` + ``serialization_format``), so a folder
written here loads with ``mlflow.sklearn.load_model`` and the reverse. MLflow reads
``skops_trusted_types`` from MLmodel; loopml writes it for MLflow's sake but never reads it:
what loads without trust is decided by ``loopml.models._skops_policy`` (exact names per skops
node kind, built from the installed scikit-learn, deny by default), i.e. by this code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loopml.errors import InvalidParameterValue
from loopml.models._integrity import looks_like_pickle, refuse_untrusted
from loopml.models._skops_content import tree_problems
from loopml.models._skops_policy import audit_schema, default_policy
from loopml.models.flavors.base import Flavor, data_file, version_of

PICKLE_FORMATS = ("pickle", "cloudpickle")


class SklearnFlavor(Flavor):
    name = "sklearn"
    packages = ("scikit-learn", "skops")

    def handles(self, model: Any) -> bool:
        from sklearn.base import BaseEstimator

        return isinstance(model, BaseEstimator) and type(model).__module__.startswith("sklearn")

    def save(self, model: Any, folder: Path, **options: Any) -> dict[str, Any]:
        fmt = options.get("serialization_format", "skops")
        if fmt == "skops":
            import skops.io as sio

            sio.dump(model, folder / "model.skops")
            untrusted = sio.get_untrusted_types(file=folder / "model.skops")
            return {"pickled_model": "model.skops", "sklearn_version": version_of("scikit-learn"),
                    "serialization_format": "skops", "skops_trusted_types": untrusted,
                    "code": None}
        if fmt in PICKLE_FORMATS:
            import cloudpickle

            with open(folder / "model.pkl", "wb") as fh:
                cloudpickle.dump(model, fh)
            return {"pickled_model": "model.pkl", "sklearn_version": version_of("scikit-learn"),
                    "serialization_format": "cloudpickle", "code": None}
        raise InvalidParameterValue(
            f"serialization_format {fmt!r} is not one of skops, cloudpickle, pickle.")

    def predict(self, native: Any, data: Any) -> Any:
        # Transformers (scalers, encoders) have no predict; MLflow users expect transform.
        if not hasattr(native, "predict") and hasattr(native, "transform"):
            return native.transform(data)
        return native.predict(data)

    def load(self, folder: Path, conf: dict[str, Any], trust: bool) -> Any:
        fmt = conf.get("serialization_format", "cloudpickle")
        path = data_file(folder, conf, "pickled_model", "model.pkl")
        if fmt == "skops":
            return load_skops(path, trust)
        if fmt not in PICKLE_FORMATS:
            raise InvalidParameterValue(f"Unknown sklearn serialization_format {fmt!r}.")
        if not trust:
            raise refuse_untrusted(path, f"it is a {fmt} file")
        return load_pickle(path)


def _schema(data: bytes, path: Path) -> Any:
    import io
    import json
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return json.loads(z.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise InvalidParameterValue(f"{path.name} is not a valid skops file: {e}") from None


def load_skops(path: Path, trust: bool) -> Any:
    """Load a skops file. Untrusted, every node must be on ``default_policy()`` (checked on
    the JSON before skops builds anything) and every tree's node arrays must be sound.

    The bytes are read once, so the file checked is the file loaded.
    Raises ``UntrustedModel`` (403) naming what was refused, ``InvalidParameterValue`` (400)
    for a damaged file."""
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    if looks_like_pickle(path):
        raise refuse_untrusted(path, "MLmodel says skops but the file is a pickle")
    data = path.read_bytes()
    schema = _schema(data, path)
    if trust:
        try:
            return sio.loads(data, trusted=sio.get_untrusted_types(data=data))
        except Exception as e:
            raise InvalidParameterValue(f"{path.name} is not a valid skops file: {e}") from None
    refused, allowed = audit_schema(schema, default_policy())
    if refused:
        raise refuse_untrusted(path, "it names types or functions outside loopml's allow-list "
                               "for loading without trust", refused)
    try:
        model = sio.loads(data, trusted=allowed)
    except UntrustedTypesFoundException as e:  # skops' own audit: a second line of defence
        raise refuse_untrusted(path, f"skops refused it ({e})") from None
    except Exception as e:
        raise InvalidParameterValue(f"{path.name} is not a valid skops file: {e}") from None
    if problems := tree_problems(model):
        raise refuse_untrusted(path, "its tree node arrays would make predict read out of "
                               "bounds", problems)
    return model


def load_pickle(path: Path) -> Any:
    """Only ever called after the caller trusted the model."""
    if path.suffix == ".joblib":
        import joblib

        return joblib.load(path)
    import cloudpickle

    with open(path, "rb") as fh:
        return cloudpickle.load(fh)  # noqa: S301 - trusted by the caller, see HOW_TO_TRUST
