"""Drift detection: statistics against scipy on raw data, defaults, degenerate inputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy.stats import ks_2samp, wasserstein_distance

from loopml import data
from loopml.data.profile import Profile
from loopml.errors import InvalidParameterValue


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    n = 20_000
    ref = pd.DataFrame({"a": rng.normal(0, 1, n), "b": rng.exponential(2, n),
                        "cat": rng.choice(["x", "y", "z"], n, p=[0.6, 0.3, 0.1])})
    cur = pd.DataFrame({"a": rng.normal(0.5, 1, n), "b": rng.exponential(2, n),
                        "cat": rng.choice(["x", "y", "z"], n, p=[0.2, 0.3, 0.5])})
    return ref, cur


def test_statistics_match_scipy(frames) -> None:
    ref, cur = frames
    r = data.detect_drift(ref, cur, tests={"a": "ks", "b": "wasserstein"})
    ks = ks_2samp(ref.a, cur.a).statistic
    assert r.column("a").statistic == pytest.approx(ks, abs=2e-3)
    w = wasserstein_distance(ref.b, cur.b) / ref.b.std(ddof=0)
    assert r.column("b").statistic == pytest.approx(w, abs=5e-3)


def test_defaults_and_dataset_share(frames) -> None:
    ref, cur = frames
    r = data.detect_drift(ref, cur)
    assert [(c.column, c.test, c.drifted) for c in r.columns] == [
        ("a", "wasserstein", True), ("b", "wasserstein", False), ("cat", "jensenshannon", True)]
    assert r.share_drifted == pytest.approx(2 / 3) and r.dataset_drift
    small = data.detect_drift(ref[:300], cur[:300])
    assert [c.test for c in small.columns] == ["ks", "ks", "chisquare"]
    assert small.column("a").p_value is not None and small.column("a").p_value < 0.05
    out = json.loads(r.to_json())
    assert out["number_of_drifted_columns"] == 2 and out["columns"][0]["column"] == "a"


def test_no_drift_on_same_distribution() -> None:
    rng = np.random.default_rng(1)
    a = pd.DataFrame({"x": rng.normal(size=50_000), "c": rng.choice(list("abc"), 50_000)})
    b = pd.DataFrame({"x": rng.normal(size=50_000), "c": rng.choice(list("abc"), 50_000)})
    for test in ("ks", "wasserstein", "psi", "jensenshannon"):
        assert not data.detect_drift(a[["x"]], b[["x"]], tests=test).column("x").drifted, test
    for test in ("chisquare", "psi", "jensenshannon"):
        assert not data.detect_drift(a[["c"]], b[["c"]], tests=test).column("c").drifted, test


def test_from_stored_profile(frames, tmp_path) -> None:
    """Drift needs only the reference profile: serialise it, drop the data, compare."""
    ref, cur = frames
    stored = tmp_path / "profile.json"
    stored.write_text(json.dumps(data.profile(ref).to_dict()))
    prof = Profile.from_dict(json.loads(stored.read_text()))
    from_profile = data.detect_drift(prof, cur)
    from_data = data.detect_drift(ref, cur)
    for a, b in zip(from_profile.columns, from_data.columns, strict=True):
        assert a.statistic == pytest.approx(b.statistic, abs=1e-3) and a.drifted == b.drifted


def test_profiles_merge(frames) -> None:
    ref, _ = frames
    whole = data.profile(ref)
    merged = data.profile(ref[:7000]).merge(data.profile(ref[7000:]))
    a, b = whole.columns["a"], merged.columns["a"]
    assert b.count == a.count and b.mean == pytest.approx(a.mean) and b.std == pytest.approx(a.std)
    assert merged.columns["cat"].counts == whole.columns["cat"].counts
    assert data.detect_drift(merged, ref).share_drifted == 0.0


def test_degenerate_inputs_get_defined_results() -> None:
    ref = pd.DataFrame({"const": [1.0] * 50, "nan": [np.nan] * 50, "x": np.arange(50.0),
                        "gone": np.arange(50.0)})
    cur = pd.DataFrame({"const": [2.0] * 50, "nan": [1.0] * 50, "x": np.arange(50.0),
                        "new": ["a"] * 50})
    r = data.detect_drift(ref, cur, tests={"const": "wasserstein"})
    assert r.column("const").drifted and math.isinf(r.column("const").statistic)
    for name, why in (("nan", "no values"), ("gone", "missing from the current"),
                      ("new", "missing from the reference")):
        c = r.column(name)
        assert c.status == "skipped" and why in c.reason and not c.drifted
    assert not r.column("x").drifted
    json.loads(r.to_json())  # inf/NaN statistics still serialise


def test_empty_reference_and_no_shared_columns() -> None:
    r = data.detect_drift(pd.DataFrame({"x": pd.Series([], dtype=float)}),
                          pd.DataFrame({"x": [1.0, 2.0]}))
    assert r.column("x").status == "skipped" and not r.dataset_drift
    with pytest.raises(InvalidParameterValue, match="share no columns"):
        data.detect_drift(pd.DataFrame({"a": [1.0]}), pd.DataFrame({"b": [1.0]}))
    with pytest.raises(InvalidParameterValue, match="in neither table"):
        data.detect_drift(pd.DataFrame({"a": [1.0]}), pd.DataFrame({"a": [1.0]}), columns=["z"])
    with pytest.raises(InvalidParameterValue, match="Unknown drift test"):
        data.detect_drift(pd.DataFrame({"a": [1.0]}), pd.DataFrame({"a": [1.0]}), tests="t")
    with pytest.raises(InvalidParameterValue, match="does not apply"):
        data.detect_drift(pd.DataFrame({"a": ["u"]}), pd.DataFrame({"a": ["v"]}), tests="ks")


def test_type_change_is_reported() -> None:
    r = data.detect_drift(pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, 2.0]}),
                          pd.DataFrame({"a": ["x", "y"], "b": [1.0, 2.0]}))
    assert r.column("a").status == "skipped" and "categorical" in r.column("a").reason


def test_accepts_arrow_polars_and_files(frames, tmp_path) -> None:
    ref, cur = frames
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pandas(ref), tmp_path / "ref.parquet")
    cur.to_csv(tmp_path / "cur.csv", index=False)
    r = data.detect_drift(tmp_path / "ref.parquet", tmp_path / "cur.csv")
    assert r.drifted_columns == ["a", "cat"]
    r2 = data.detect_drift(pa.Table.from_pandas(ref), cur)
    assert r2.drifted_columns == ["a", "cat"]
    with pytest.raises(InvalidParameterValue, match="No such data file"):
        data.detect_drift(tmp_path / "missing.parquet", cur)


def test_polars_input(frames) -> None:
    pl = pytest.importorskip("polars")
    ref, cur = frames
    r = data.detect_drift(pl.from_pandas(ref), pl.from_pandas(cur))
    assert r.drifted_columns == ["a", "cat"]
    schema = data.infer_schema(pl.from_pandas(ref))
    assert schema.column("cat").domain == ["x", "y", "z"]


def test_high_cardinality_new_categories_are_drift(tmp_path) -> None:
    """Issue 15: 50k reference ids and 50k different current ids gave Jensen-Shannon 0.063
    ("no drift"): both fell in the OTHER bucket. The bottom-k sketch tells new values from
    the same rare values, also from a stored (JSON) and merged profile."""
    import json

    import pandas as pd

    from loopml.data.drift import detect_drift
    from loopml.data.profile import Profile, profile

    ids = [f"u{i}" for i in range(50_000)]
    ref = pd.DataFrame({"id": ids})
    new = pd.DataFrame({"id": [f"v{i}" for i in range(50_000)]})
    same = pd.DataFrame({"id": ids[::-1]})
    half = pd.DataFrame({"id": ids[:25_000] + [f"v{i}" for i in range(25_000)]})

    def stat(reference, current) -> tuple[float, bool]:  # type: ignore[no-untyped-def]
        col = detect_drift(reference, current).columns[0]
        return col.statistic, col.drifted

    s, drifted = stat(ref, new)
    assert s > 0.95 and drifted
    s, drifted = stat(ref, same)
    assert s < 0.1 and not drifted
    s, drifted = stat(ref, half)
    assert 0.4 < s < 0.9 and drifted
    stored = Profile.from_dict(json.loads(json.dumps(profile(ref).to_dict())))
    assert stat(stored, new)[0] > 0.95
    merged = profile(ref[:20_000]).merge(profile(ref[20_000:]))
    assert stat(merged, new)[0] > 0.95 and stat(merged, same)[0] < 0.1
