"""Model folders round-trip through loopml, and across loopml <-> MLflow, for every flavor."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from loopml import models
from loopml.errors import ResourceAlreadyExists
from loopml.models import ModelIntegrityError

mlflow = pytest.importorskip("mlflow")
warnings.filterwarnings("ignore")


def _roundtrip(model, x, tmp_path: Path, trust: bool = False, **kw):  # type: ignore[no-untyped-def]
    path = tmp_path / "m"
    models.save_model(model, path, input_example=x[:3], **kw)
    return path, models.load(str(path), trust=trust)


def test_sklearn_pipeline_skops(cancer, tmp_path: Path) -> None:
    x, y = cancer
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    path, m = _roundtrip(clf, x, tmp_path)
    assert m.flavor.name == "sklearn"
    assert (path / "model.skops").exists() and not list(path.glob("*.pkl"))
    np.testing.assert_array_equal(m.predict(x[:50]), clf.predict(x[:50]))
    np.testing.assert_allclose(m.predict_proba(x[:5]), clf.predict_proba(x[:5]))
    # MLflow reads the folder loopml wrote.
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(str(path)).predict(x[:50]),
                                  clf.predict(x[:50]))
    assert mlflow.sklearn.load_model(str(path)).predict(x[:3]).tolist() == clf.predict(x[:3]).tolist()


def test_mlmodel_contents(cancer, tmp_path: Path) -> None:
    x, y = cancer
    path, _ = _roundtrip(HistGradientBoostingClassifier(max_iter=10).fit(x, y), x, tmp_path)
    meta = yaml.safe_load((path / "MLmodel").read_text())
    assert set(meta["flavors"]) == {"sklearn", "python_function"}
    assert meta["signature"]["inputs"].startswith('[{"type":"double","name":"mean radius"')
    assert meta["saved_input_example_info"]["type"] == "dataframe"
    assert set(meta["loopml_file_digests"]) >= {"model.skops", "requirements.txt",
                                                "input_example.json"}
    reqs = (path / "requirements.txt").read_text().split()
    assert any(r.startswith("scikit-learn==") for r in reqs)
    assert all("==" in r for r in reqs)


def test_lightgbm_native_text(cancer, tmp_path: Path) -> None:
    lgb = pytest.importorskip("lightgbm")
    x, y = cancer
    clf = lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(x, y)
    path, m = _roundtrip(clf, x, tmp_path)
    assert (path / "model.lgb").read_text().startswith("tree")
    np.testing.assert_array_equal(m.predict(x[:50]), clf.predict(x[:50]))
    np.testing.assert_allclose(m.predict_proba(x[:5]), clf.predict_proba(x[:5]))
    # MLflow loads the booster (its pyfunc returns the booster's probabilities).
    np.testing.assert_allclose(mlflow.pyfunc.load_model(str(path)).predict(x[:5]),
                               clf.predict_proba(x[:5])[:, 1])


def test_xgboost_native_ubj(cancer, tmp_path: Path) -> None:
    xgb = pytest.importorskip("xgboost")
    x, y = cancer
    clf = xgb.XGBClassifier(n_estimators=20).fit(x, y)
    path, m = _roundtrip(clf, x, tmp_path)
    assert (path / "model.ubj").exists()
    np.testing.assert_array_equal(m.predict(x[:50]), clf.predict(x[:50]))
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(str(path)).predict(x[:50]),
                                  clf.predict(x[:50]))


def test_pytorch_torchscript(iris, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    x, _ = iris
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    path, m = _roundtrip(net, x.astype(np.float32), tmp_path, trust=True)  # TorchScript is code
    expected = net(torch.as_tensor(x[:5], dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(m.predict(x[:5]), expected, rtol=1e-5)
    # MLflow loads the TorchScript file too.
    got = mlflow.pytorch.load_model(str(path))(torch.as_tensor(x[:5], dtype=torch.float32))
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-5)


def test_loopml_loads_mlflow_folders(cancer, tmp_path: Path) -> None:
    x, y = cancer
    clf = LogisticRegression(max_iter=500).fit(x, y)
    mlflow.sklearn.save_model(clf, tmp_path / "skops", input_example=x[:3])  # skops default
    np.testing.assert_array_equal(models.load(str(tmp_path / "skops")).predict(x[:20]),
                                  clf.predict(x[:20]))
    mlflow.sklearn.save_model(clf, tmp_path / "cp", serialization_format="cloudpickle")
    with pytest.raises(models.UntrustedModel):
        models.load(str(tmp_path / "cp"))
    np.testing.assert_array_equal(models.load(str(tmp_path / "cp"), trust=True).predict(x[:20]),
                                  clf.predict(x[:20]))
    xgb = pytest.importorskip("xgboost")
    xclf = xgb.XGBClassifier(n_estimators=5).fit(x, y)
    mlflow.xgboost.save_model(xclf, tmp_path / "xgb")
    np.testing.assert_array_equal(models.load(str(tmp_path / "xgb")).predict(x[:20]),
                                  xclf.predict(x[:20]))


def test_mlflow_pytorch_pickle_needs_trust(iris, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    x, _ = iris
    net = torch.nn.Linear(4, 2)
    mlflow.pytorch.save_model(net, tmp_path / "pt", serialization_format="pickle")
    with pytest.raises(models.UntrustedModel, match="torch.save"):
        models.load(str(tmp_path / "pt"))
    out = models.load(str(tmp_path / "pt"), trust=True).predict(x[:3])
    assert out.shape == (3, 2)


def test_digests_catch_tampering(cancer, tmp_path: Path) -> None:
    x, y = cancer
    path = tmp_path / "m"
    models.save_model(LogisticRegression(max_iter=500).fit(x, y), path, input_example=x[:2])
    with open(path / "model.skops", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelIntegrityError, match="model.skops"):
        models.load(str(path))


def test_save_refuses_existing_folder(iris, tmp_path: Path) -> None:
    x, y = iris
    clf = LogisticRegression(max_iter=300).fit(x, y)
    models.save_model(clf, tmp_path / "m")
    with pytest.raises(ResourceAlreadyExists):
        models.save_model(clf, tmp_path / "m")
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temp folder left behind


def test_generic_python_function(tmp_path: Path) -> None:
    class Doubler:
        def predict(self, x):  # type: ignore[no-untyped-def]
            return np.asarray(x) * 2

    models.save_model(Doubler(), tmp_path / "d", flavor="python_function")
    with pytest.raises(models.UntrustedModel):
        models.load(str(tmp_path / "d"))
    assert models.load(str(tmp_path / "d"), trust=True).predict([1, 2]).tolist() == [2, 4]


def test_mlflow_pytorch_pt2_needs_trust(iris, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    x, _ = iris
    net = torch.nn.Linear(4, 2)
    example = x[:2].astype(np.float32)
    mlflow.pytorch.save_model(net, tmp_path / "pt2", input_example=example)  # MLflow's default
    with pytest.raises(models.UntrustedModel, match="torch.export"):
        models.load(str(tmp_path / "pt2"))
    out = models.load(str(tmp_path / "pt2"), trust=True).predict(x[:3])
    np.testing.assert_allclose(out, net(torch.as_tensor(x[:3], dtype=torch.float32)).detach().numpy(), rtol=1e-5)
