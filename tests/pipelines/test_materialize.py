"""Step outputs stored by type, loaded back equal, and never through pickle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopml.artifacts import get_blob_store
from loopml.pipelines._materialize import load_output, save_output


@pytest.mark.parametrize("value,kind", [
    (pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), "pandas"),
    (pd.DataFrame({"a": [1.0]}, index=pd.Index(["r"], name="id")), "pandas"),
    (pd.Series([1.5, 2.5], name="y"), "pandas-series"),
    (pd.Series([1, 2]), "pandas-series"),
    (np.arange(6).reshape(2, 3), "numpy"),
    ({"a": [1, 2], "b": {"c": None}}, "json"),
    ([1, "two", 3.0], "json"),
    ("text", "json"),
    (3.5, "json"),
])
def test_round_trip(tmp_path, value, kind) -> None:  # type: ignore[no-untyped-def]
    blobs = get_blob_store(str(tmp_path))
    ref = save_output(value, blobs, str(tmp_path), "steps/s/out")
    assert ref["kind"] == kind and len(ref["digest"]) == 64
    back = load_output(ref, blobs)
    if isinstance(value, pd.DataFrame):
        pd.testing.assert_frame_equal(back, value)
    elif isinstance(value, pd.Series):
        pd.testing.assert_series_equal(back, value)
    elif isinstance(value, np.ndarray):
        np.testing.assert_array_equal(back, value)
    else:
        assert back == value


def test_polars_arrow_and_models(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import polars as pl
    import pyarrow as pa
    from sklearn.tree import DecisionTreeClassifier

    blobs = get_blob_store(str(tmp_path))
    df = pl.DataFrame({"a": [1, 2]})
    assert load_output(save_output(df, blobs, "", "p"), blobs).equals(df)
    t = pa.table({"a": [1, 2]})
    assert load_output(save_output(t, blobs, "", "t"), blobs).equals(t)
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    m = DecisionTreeClassifier().fit(X, [0, 0, 1, 1])
    ref = save_output(m, blobs, "", "m", provenance="key1")
    assert ref["kind"] == "model"
    assert list(load_output(ref, blobs).predict(X)) == [0, 0, 1, 1]
    # A model's digest follows the step that made it, so downstream cache keys are stable.
    assert save_output(m, blobs, "", "m", provenance="key1")["digest"] == ref["digest"]
    assert save_output(m, blobs, "", "m", provenance="key2")["digest"] != ref["digest"]


def test_refuses_what_would_need_pickle(tmp_path) -> None:  # type: ignore[no-untyped-def]
    blobs = get_blob_store(str(tmp_path))
    with pytest.raises(TypeError, match="object-dtype array"):
        save_output(np.array([object()], dtype=object), blobs, "", "x")

    class HasPredict:
        def predict(self, x):  # type: ignore[no-untyped-def]
            return x

    with pytest.raises(TypeError, match="cannot store between steps"):
        save_output(HasPredict(), blobs, "", "y")
