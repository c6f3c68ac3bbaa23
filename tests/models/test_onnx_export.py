"""ONNX export with a parity check, stored as an extra flavor of the same model."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.preprocessing import FunctionTransformer

from loopml import models
from loopml.models.onnx_export import to_onnx

warnings.filterwarnings("ignore")


def _check(path: Path, x, expected) -> None:  # type: ignore[no-untyped-def]
    meta = yaml.safe_load((path / "MLmodel").read_text())
    assert "onnx" in meta["flavors"] and meta["loopml_onnx"]["converted"] is True
    assert "model.onnx" in meta["loopml_file_digests"]
    onnx_model = models.load(str(path), flavor="onnx")
    np.testing.assert_array_equal(np.asarray(onnx_model.predict(x)).ravel(), expected)
    assert models.load(str(path)).flavor.name != "onnx"  # native stays the default


def test_hist_gradient_boosting(cancer, tmp_path: Path) -> None:
    x, y = cancer
    clf = HistGradientBoostingClassifier(max_iter=20).fit(x, y)
    models.save_model(clf, tmp_path / "m", input_example=x[:30])
    r = to_onnx(str(tmp_path / "m"))
    assert r.converted and r.label_agreement == 1.0 and r.max_abs_diff is not None
    assert r.max_abs_diff < 1e-3 and r.rows == 30
    _check(tmp_path / "m", x[:50], clf.predict(x[:50]))


@pytest.mark.parametrize("lib", ["lightgbm", "xgboost"])
def test_gradient_boosting_libraries(lib: str, cancer, tmp_path: Path) -> None:
    mod = pytest.importorskip(lib)
    x, y = cancer
    clf = (mod.LGBMClassifier(n_estimators=20, verbose=-1) if lib == "lightgbm"
           else mod.XGBClassifier(n_estimators=20)).fit(x, y)
    models.save_model(clf, tmp_path / "m", input_example=x[:30])
    r = to_onnx(str(tmp_path / "m"))
    assert r.converted, r.reason
    _check(tmp_path / "m", x[:50], clf.predict(x[:50]))


def test_torch(iris, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    x, _ = iris
    net = torch.nn.Sequential(torch.nn.Linear(4, 3))
    models.save_model(net, tmp_path / "m", input_example=x[:10].astype(np.float32))
    r = to_onnx(str(tmp_path / "m"), trust=True)  # the TorchScript source is code: trusted
    assert r.converted, r.reason
    np.testing.assert_allclose(models.load(str(tmp_path / "m"), flavor="onnx").predict(x[:5]),
                               models.load(str(tmp_path / "m"), trust=True).predict(x[:5]),
                               rtol=1e-5)


def test_unsupported_is_reported_not_raised(iris, tmp_path: Path) -> None:
    x, _ = iris
    models.save_model(FunctionTransformer(np.log1p), tmp_path / "m", input_example=x[:5])
    r = to_onnx(str(tmp_path / "m"))
    assert not r.converted and "Not converted to ONNX" in r.reason
    meta = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    assert "onnx" not in meta["flavors"] and meta["loopml_onnx"]["converted"] is False
    assert models.load(str(tmp_path / "m")).predict(x[:2]).shape == (2, 4)  # still serves


def test_parity_failure_keeps_native(iris, tmp_path: Path, monkeypatch) -> None:
    """An ONNX graph that predicts something else is refused and recorded; nothing breaks."""
    from sklearn.linear_model import LinearRegression

    from loopml.models.flavors.onnx import OnnxSession

    x, y = iris
    models.save_model(LinearRegression().fit(x, y), tmp_path / "m", input_example=x[:20])
    real = OnnxSession.predict
    monkeypatch.setattr(OnnxSession, "predict", lambda self, d: real(self, d) + 0.01)
    r = to_onnx(str(tmp_path / "m"))
    assert not r.converted and "parity failed on 20 rows" in r.reason
    assert r.max_abs_diff is not None and r.max_abs_diff > 0.009
    meta = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    assert "onnx" not in meta["flavors"] and not (tmp_path / "m" / "model.onnx").exists()


def test_needs_sample_rows(iris, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from loopml.errors import InvalidParameterValue

    x, y = iris
    models.save_model(LogisticRegression(max_iter=200).fit(x, y), tmp_path / "m")
    with pytest.raises(InvalidParameterValue, match="sample rows"):
        to_onnx(str(tmp_path / "m"))
    assert to_onnx(str(tmp_path / "m"), sample=x[:10]).converted
