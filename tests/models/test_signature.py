"""Signatures: inferred from training data, enforced at predict with errors that name the
column, the expected type and the received type."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopml.models.signature import (
    ModelSignature,
    SignatureMismatch,
    enforce,
    infer_signature,
)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"age": np.array([30, 40], dtype=np.int64), "income": [1.5, 2.5],
                         "city": ["a", "b"], "vip": [True, False]})


def test_infer_columns(frame: pd.DataFrame) -> None:
    sig = infer_signature(frame, np.array([0, 1]))
    types = {s.name: s.type for s in sig.inputs.specs}
    assert types == {"age": "long", "income": "double", "city": "string", "vip": "boolean"}
    assert sig.outputs is not None and sig.outputs.is_tensor
    assert ModelSignature.from_dict(sig.to_dict()) == sig


def test_infer_tensor() -> None:
    sig = infer_signature(np.zeros((10, 4), dtype=np.float32))
    spec = sig.inputs.specs[0]
    assert (spec.dtype, spec.shape) == ("float32", (-1, 4))


def test_readable_by_mlflow(frame: pd.DataFrame) -> None:
    mlflow_sig = pytest.importorskip("mlflow.models").ModelSignature
    sig = mlflow_sig.from_dict(infer_signature(frame).to_dict())
    assert sig.inputs.input_names() == ["age", "income", "city", "vip"]


def test_missing_extra_and_wrong_type(frame: pd.DataFrame) -> None:
    sig = infer_signature(frame)
    with pytest.raises(SignatureMismatch, match=r"Missing column\(s\) \['city'\]"):
        enforce(sig, frame.drop(columns=["city"]))
    with pytest.raises(SignatureMismatch, match=r"\['extra'\] are not in the model's signature"):
        enforce(sig, frame.assign(extra=1))
    with pytest.raises(SignatureMismatch, match="Column 'income': expected double, got str"):
        enforce(sig, frame.assign(income=["x", "y"]))
    with pytest.raises(SignatureMismatch, match="Column 'city': expected string, got int"):
        enforce(sig, frame.assign(city=[1, 2]))
    with pytest.raises(SignatureMismatch, match="Column 'age': expected long, got double"):
        enforce(sig, frame.assign(age=[1.5, 2.0]))


def test_safe_widening_and_records(frame: pd.DataFrame) -> None:
    sig = infer_signature(frame)
    out = enforce(sig, frame.assign(income=np.array([1, 2], dtype=np.int32)))
    assert out["income"].dtype == np.float64
    records = [{"age": 1, "income": 2.0, "city": "c", "vip": True}]
    assert enforce(sig, records)["age"].dtype == np.int64
    # Columns come back in the signature's order whatever order they were sent in.
    assert list(enforce(sig, frame[["vip", "city", "income", "age"]]).columns) == list(frame.columns)


def test_tensor_shape_and_dtype() -> None:
    sig = infer_signature(np.zeros((3, 4), dtype=np.float64))
    assert enforce(sig, [[1, 2, 3, 4]]).dtype == np.float64
    assert enforce(sig, [1, 2, 3, 4]).shape == (1, 4)  # one row without the batch dimension
    with pytest.raises(SignatureMismatch, match=r"expected shape \[-1, 4\].*got \[1, 3\]"):
        enforce(sig, [[1, 2, 3]])
    with pytest.raises(SignatureMismatch, match="expected dtype float64, got <U1"):
        enforce(sig, [["a", "b", "c", "d"]])


def test_nullable_columns_with_gaps_are_optional_and_enforced(tmp_path) -> None:
    """Issue 15: a frame whose Int64/boolean columns hold <NA> gave a required ``long`` and
    predict on that same frame raised a bare ValueError."""
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier

    from loopml import models
    from loopml.models.signature import SignatureMismatch, enforce, infer_signature

    frame = pd.DataFrame({
        "a": pd.array([1, None, 3, 4] * 10, dtype="Int64"),
        "b": pd.array([True, None, False, True] * 10, dtype="boolean"),
        "c": np.arange(40.0),
    })
    y = np.arange(40) % 2
    sig = infer_signature(frame)
    specs = {s.name: s for s in sig.inputs.specs}
    assert (specs["a"].type, specs["a"].required) == ("long", False)
    assert (specs["b"].type, specs["b"].required) == ("boolean", False)
    assert specs["c"].required
    model = HistGradientBoostingClassifier(max_iter=5).fit(frame.astype("float64"), y)
    models.save_model(model, tmp_path / "m", input_example=frame[:8])
    loaded = models.load(str(tmp_path / "m"))
    assert len(loaded.predict(frame)) == 40
    # A column whose signature requires values: gaps are a SignatureMismatch naming it.
    strict = infer_signature(frame.fillna({"a": 0, "b": False}))
    with pytest.raises(SignatureMismatch, match="'a'.*missing value"):
        enforce(strict, frame)
    # Gaps in an optional long column: whole numbers pass, fractions are refused.
    floats = frame.assign(a=frame["a"].astype("float64"))
    assert str(enforce(sig, floats)["a"].dtype) == "Int64"
    with pytest.raises(SignatureMismatch, match="'a'"):
        enforce(sig, floats.assign(a=[0.5, None, 1.0, 2.0] * 10))
