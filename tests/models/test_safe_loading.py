"""Malicious model files: each would create a canary file when unpickled. Untrusted, every
one is refused with an error that says how to trust it, and the canary never appears."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import cloudpickle
import joblib
import pytest
import yaml

from loopml import models
from loopml.models import UntrustedModel


class Evil:
    """Unpickling this calls open(canary, "w"): harmless, but proof that code ran."""

    def __init__(self, canary: Path) -> None:
        self.canary = str(canary)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (self.canary, "w"))


def _mlmodel(folder: Path, flavors: dict) -> None:
    (folder / "MLmodel").write_text(yaml.safe_dump({"flavors": flavors}))


def _sklearn(fmt: str, file: str) -> dict:
    return {"sklearn": {"pickled_model": file, "serialization_format": fmt}}


def pickle_file(folder: Path, canary: Path) -> None:
    (folder / "model.pkl").write_bytes(pickle.dumps(Evil(canary)))
    _mlmodel(folder, _sklearn("pickle", "model.pkl"))


def cloudpickle_file(folder: Path, canary: Path) -> None:
    (folder / "model.pkl").write_bytes(cloudpickle.dumps(Evil(canary)))
    _mlmodel(folder, _sklearn("cloudpickle", "model.pkl"))


def joblib_file(folder: Path, canary: Path) -> None:
    joblib.dump(Evil(canary), folder / "model.joblib", compress=3)
    _mlmodel(folder, _sklearn("pickle", "model.joblib"))


def protocol0_pickle(folder: Path, canary: Path) -> None:
    (folder / "model.pkl").write_bytes(pickle.dumps(Evil(canary), protocol=0))
    _mlmodel(folder, _sklearn("pickle", "model.pkl"))


def torch_file(folder: Path, canary: Path) -> None:
    torch = pytest.importorskip("torch")
    (folder / "data").mkdir()
    torch.save(Evil(canary), folder / "data" / "model.pth")
    _mlmodel(folder, {"pytorch": {"model_data": "data"}})


def claims_skops(folder: Path, canary: Path) -> None:
    (folder / "model.skops").write_bytes(pickle.dumps(Evil(canary)))
    _mlmodel(folder, _sklearn("skops", "model.skops"))


def claims_onnx(folder: Path, canary: Path) -> None:
    (folder / "model.onnx").write_bytes(pickle.dumps(Evil(canary)))
    _mlmodel(folder, {"onnx": {"data": "model.onnx"}})


def claims_lightgbm(folder: Path, canary: Path) -> None:
    (folder / "model.lgb").write_bytes(pickle.dumps(Evil(canary)))
    _mlmodel(folder, {"lightgbm": {"data": "model.lgb"}})


def claims_xgboost(folder: Path, canary: Path) -> None:
    (folder / "model.ubj").write_bytes(pickle.dumps(Evil(canary)))
    _mlmodel(folder, {"xgboost": {"data": "model.ubj", "model_class": "xgboost.sklearn.XGBClassifier"}})


def pyfunc_file(folder: Path, canary: Path) -> None:
    (folder / "python_model.pkl").write_bytes(cloudpickle.dumps(Evil(canary)))
    _mlmodel(folder, {"python_function": {"loader_module": "mlflow.pyfunc.model",
                                          "python_model": "python_model.pkl"}})


def mlflow_loader_module(folder: Path, canary: Path) -> None:
    """MLmodel names a module to import: loopml must never import it."""
    (folder / "evil_mod.py").write_text(f"open({str(canary)!r}, 'w')\n")
    _mlmodel(folder, {"python_function": {"loader_module": "evil_mod", "code": "."}})


FIXTURES: list[Callable[[Path, Path], None]] = [
    pickle_file, cloudpickle_file, joblib_file, protocol0_pickle, torch_file, claims_skops,
    claims_onnx, claims_lightgbm, claims_xgboost, pyfunc_file,
]


@pytest.mark.parametrize("make", FIXTURES, ids=lambda f: f.__name__)
def test_untrusted_pickle_is_refused(make, tmp_path: Path) -> None:
    folder, canary = tmp_path / "model", tmp_path / "CANARY"
    folder.mkdir()
    make(folder, canary)
    with pytest.raises(UntrustedModel) as e:
        models.load(str(folder))
    assert "trust=True" in e.value.message and "--trust-pickle" in e.value.message
    assert e.value.http_status == 403
    assert not canary.exists()


def test_loader_module_from_file_is_never_imported(tmp_path: Path) -> None:
    folder, canary = tmp_path / "model", tmp_path / "CANARY"
    folder.mkdir()
    mlflow_loader_module(folder, canary)
    with pytest.raises(Exception, match="cannot load a model"):
        models.load(str(folder), trust=True)
    assert not canary.exists()


def test_fixtures_are_really_malicious(tmp_path: Path) -> None:
    """With trust, the same pickle does run: the refusals above are what kept it out."""
    folder, canary = tmp_path / "model", tmp_path / "CANARY"
    folder.mkdir()
    pickle_file(folder, canary)
    with pytest.raises(Exception):  # noqa: B017 - Evil is not a model; the point is the canary
        models.load(str(folder), trust=True).predict([[1.0]])
    assert canary.exists()


def test_untrusted_skops_types_are_refused(tmp_path: Path) -> None:
    """skops files can hold types outside the safe list; those need trust, and the list
    written in MLmodel (skops_trusted_types) is ignored."""
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    folder = tmp_path / "m"
    folder.mkdir()
    sio.dump(FunctionTransformer(func=len), folder / "model.skops")
    flavors = _sklearn("skops", "model.skops")
    flavors["sklearn"]["skops_trusted_types"] = ["builtins.len"]
    _mlmodel(folder, flavors)
    with pytest.raises(UntrustedModel, match="builtins.len"):
        models.load(str(folder))
    assert models.load(str(folder), trust=True).native.func is len
