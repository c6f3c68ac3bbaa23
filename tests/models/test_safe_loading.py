"""Malicious model files: each would create a canary file when unpickled. Untrusted, every
one is refused with an error that says how to trust it, and the canary never appears."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def _project_models() -> dict[str, tuple[Any, Any, Any]]:
    """The kinds of model loopml's tests, demo and docs save: each must load untrusted."""
    import numpy as np
    import pandas as pd
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.datasets import load_breast_cancer
    from sklearn.decomposition import PCA
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        VotingClassifier,
    )
    from sklearn.linear_model import LinearRegression, LogisticRegression, SGDClassifier
    from sklearn.model_selection import GridSearchCV
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x = x.iloc[:, :8]
    xc = x.assign(band=pd.Categorical(np.where(x.iloc[:, 0] > 14, "hi", "lo")))
    ct = ColumnTransformer([("num", StandardScaler(), list(x.columns)),
                            ("cat", OneHotEncoder(handle_unknown="ignore"), ["band"])])
    by_dtype = ColumnTransformer([
        ("num", StandardScaler(), make_column_selector(dtype_include=np.number)),
        ("cat", OneHotEncoder(), make_column_selector(dtype_include="category"))])
    return {
        "hgb": (HistGradientBoostingClassifier(max_iter=10), x, y),
        "hgb_categorical": (HistGradientBoostingClassifier(max_iter=10), xc, y),
        "hgb_regressor": (HistGradientBoostingRegressor(max_iter=10), x, x.iloc[:, 1]),
        "random_forest": (RandomForestClassifier(5, random_state=0), x, y),
        "gradient_boosting": (GradientBoostingClassifier(n_estimators=5), x, y),
        "decision_tree": (DecisionTreeClassifier(), x, y),
        "logistic": (LogisticRegression(max_iter=2000), x, y),
        "linear": (LinearRegression(), x, x.iloc[:, 1]),
        "sgd": (SGDClassifier(), x, y),
        "mlp": (MLPClassifier(max_iter=20), x, y),
        "scaler_pipeline": (make_pipeline(StandardScaler(), LogisticRegression()), x, y),
        "pca_pipeline": (make_pipeline(PCA(3), LogisticRegression()), x, y),
        "log1p_pipeline": (make_pipeline(FunctionTransformer(np.log1p), LogisticRegression()),
                           x, y),
        "column_transformer": (make_pipeline(ct, HistGradientBoostingClassifier(max_iter=5)),
                               xc, y),
        "voting": (VotingClassifier([("lr", LogisticRegression()), ("dt",
                                     DecisionTreeClassifier())], voting="soft"), x, y),
        "column_selector": (make_pipeline(by_dtype, LogisticRegression()), xc, y),
        "calibrated": (CalibratedClassifierCV(LogisticRegression(), cv=3), x, y),
        "grid_search": (GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2), x, y),
    }


def test_models_loopml_saves_load_without_trust(tmp_path: Path) -> None:
    """The allow-list is exact, yet every model kind the project saves loads untrusted and
    predicts the same."""
    import warnings

    import numpy as np

    warnings.filterwarnings("ignore")
    for name, (est, x, y) in _project_models().items():
        est.fit(x, y)
        models.save_model(est, tmp_path / name, input_example=x[:3])
        got = models.load(str(tmp_path / name)).native
        np.testing.assert_array_equal(got.predict(x[:40]), est.predict(x[:40]), err_msg=name)


def _rewrite_tree_nodes(path: Path, change: Callable[[Any], None]) -> None:
    """Edit the first decision tree's node array inside a skops zip, as an attacker would."""
    import io
    import json
    import zipfile

    import numpy as np

    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    text = files["schema.json"].decode()
    node_file = next(n for n in files if n.endswith(".npy") and json.dumps(n) in text and
                     np.load(io.BytesIO(files[n])).dtype.names and
                     "left_child" in np.load(io.BytesIO(files[n])).dtype.names)
    nodes = np.load(io.BytesIO(files[node_file]))
    change(nodes)
    buf = io.BytesIO()
    np.save(buf, nodes, allow_pickle=False)
    files[node_file] = buf.getvalue()
    with zipfile.ZipFile(path, "w") as z:
        for n, data in files.items():
            z.writestr(n, data)


@pytest.mark.parametrize("attack", ["child_out_of_range", "child_backwards", "feature_out_of_range"])
def test_tree_arrays_that_would_read_out_of_bounds_are_refused(attack: str, tmp_path: Path) -> None:
    """Tree is trusted as a type; its indices are checked before anything predicts."""
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    x, y = load_iris(return_X_y=True)
    models.save_model(DecisionTreeClassifier().fit(x, y), tmp_path / "m")

    def change(nodes: Any) -> None:
        inner = int((nodes["left_child"] != -1).argmax())
        if attack == "child_out_of_range":
            nodes["left_child"][inner] = 10**9
        elif attack == "child_backwards":
            nodes["right_child"][inner] = inner  # a cycle: predict would never return
        else:
            nodes["feature"][inner] = 4096

    _rewrite_tree_nodes(tmp_path / "m" / "model.skops", change)
    meta = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    meta.pop("loopml_file_digests", None)  # whoever writes the file writes the digests
    (tmp_path / "m" / "MLmodel").write_text(yaml.safe_dump(meta))
    with pytest.raises(UntrustedModel, match="sklearn.tree._tree.Tree") as e:
        models.load(str(tmp_path / "m"))
    assert "trust=True" in e.value.message


def _hgb_numeric() -> Any:
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = load_breast_cancer(return_X_y=True)
    return HistGradientBoostingClassifier(max_iter=3).fit(x, y)


def _hgb_categorical() -> Any:
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x = x.assign(band=pd.Categorical(np.where(x.iloc[:, 0] > 14, "hi", "lo")))
    return HistGradientBoostingClassifier(max_iter=3).fit(x, y)


def _root(model: Any) -> Any:
    return model._predictors[0][0].nodes


def _feature_out_of_range(m: Any) -> None:
    _root(m)["feature_idx"][0] = 10**6


def _categorical_on_numeric_feature(m: Any) -> None:
    _root(m)["is_categorical"][0] = 1


def _preprocessor_drops_columns(m: Any) -> None:
    name, step, mask = m._preprocessor.transformers_[1]
    mask = mask.copy()
    mask[:20] = False
    m._preprocessor.transformers_[1] = (name, step, mask)


def _isolation_subset_too_small(m: Any) -> None:
    m.estimators_features_ = [f[:1] for f in m.estimators_features_]


def _isolation_forest() -> Any:
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import IsolationForest

    x, _ = load_breast_cancer(return_X_y=True)
    return IsolationForest(n_estimators=3, max_features=0.5, random_state=0).fit(x)


@pytest.mark.parametrize(("build", "tamper", "match"), [
    (_hgb_numeric, _feature_out_of_range, "TreePredictor: a split on feature"),
    (_hgb_numeric, _categorical_on_numeric_feature, "TreePredictor: a categorical split"),
    (_hgb_categorical, _preprocessor_drops_columns, "preprocessor that outputs"),
    (_isolation_forest, _isolation_subset_too_small, "Tree: a split on feature"),
], ids=["hgb_feature", "hgb_categorical", "hgb_preprocessor", "isolation_subset"])
def test_tampered_tree_ensembles_are_refused(build, tamper, match, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The model is valid skops of trusted types only; its indices are what is wrong."""
    import skops.io as sio

    model = build()
    models.save_model(model, tmp_path / "ok")
    assert models.load(str(tmp_path / "ok")).native is not None  # untampered: loads
    tamper(model)
    (tmp_path / "bad").mkdir()
    sio.dump(model, tmp_path / "bad" / "model.skops")
    _mlmodel(tmp_path / "bad", _sklearn("skops", "model.skops"))
    with pytest.raises(UntrustedModel, match=match):
        models.load(str(tmp_path / "bad"))
