"""Feature views (YAML and Python, validation messages) and the point-in-time join."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.errors import InvalidConfig, InvalidParameterValue
from loopml.features import FeatureView, as_of_join, get_historical_features, load_views


def test_yaml_views(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "features.yaml"
    p.write_text("views:\n  - name: stats\n    entity: machine\n    ttl: 10m\n"
                 "    features: {temp: float, n: int, state: string}\n")
    views = load_views(p)
    assert views["stats"].ttl == 600_000
    assert views["stats"].features == {"temp": "float64", "n": "int64", "state": "str"}
    p.write_text("name: one\nentity: m\nfeatures: {x: float64}\n")  # a single view
    assert list(load_views(p)) == ["one"]


def test_yaml_errors_name_the_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "f.yaml"
    p.write_text("views:\n  - name: stats\n    entity: m\n    features: {temp: flaot64}\n")
    with pytest.raises(InvalidConfig, match=r"f.yaml.*views\[0\].features.*flaot64.*float64"):
        load_views(p)
    p.write_text("views:\n  - name: stats\n    entity: m\n    features: {x: int64}\n    tll: 5s\n")
    with pytest.raises(InvalidConfig, match="tll"):
        load_views(p)
    p.write_text("views:\n  - {name: a, entity: m, features: {x: int64}}\n"
                 "  - {name: a, entity: m, features: {x: int64}}\n")
    with pytest.raises(InvalidConfig, match="declared twice"):
        load_views(p)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "entity", "features", "ttl", "other"]),
                       st.one_of(st.text(max_size=5), st.integers(-5, 5), st.none(),
                                 st.dictionaries(st.text(max_size=4), st.text(max_size=8), max_size=3))))
def test_view_loader_only_raises_invalid_config(data) -> None:  # type: ignore[no-untyped-def]
    from loopml._config import validate

    try:
        validate(FeatureView, data, "views")
    except InvalidConfig as e:
        assert str(e).startswith("views")


VIEW = FeatureView(name="stats", entity="m", ttl=100, features={"temp": "float64", "n": "int64"})
HISTORY = pa.table({
    "m":     ["a", "a", "a", "b", "a"],
    "_time": [10, 20, 30, 15, 20],  # a second row of a at t=20, written later: it wins
    "temp":  [1.0, 2.0, 3.0, 9.0, 2.5],
    "n":     [1, 2, 3, 9, 25],
})


def test_point_in_time_hand_computed() -> None:
    labels = pa.table({"m": ["a", "a", "a", "b", "a", "c", "b"],
                       "event_time": [5, 10, 29, 15, 30, 30, 116]})
    out = as_of_join(labels, HISTORY, VIEW, ["temp", "n"])
    # a@5: nothing yet; a@10: the row at 10 (same time counts); a@29: the later of the two
    # rows at 20 (never the one at 30: leakage); b@15: 9; a@30: 3; c: no rows; b@116: 101 ms
    # after its row, beyond the 100 ms ttl -> null
    assert out.column("temp").to_pylist() == [None, 1.0, 2.5, 9.0, 3.0, None, None]
    assert out.column("n").to_pylist() == [None, 1, 25, 9, 3, None, None]
    assert out.column("event_time").to_pylist() == [5, 10, 29, 15, 30, 30, 116]  # order kept


def test_historical_features_from_offline_parquet(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pyarrow.parquet as pq

    part = tmp_path / "stats" / "dt=1970-01-01" / "hour=00"
    part.mkdir(parents=True)
    pq.write_table(HISTORY, part / "s-0-4.parquet")
    out = get_historical_features({"m": ["a", "b"], "event_time": [25, 15]}, ["stats:*"],
                                  {"stats": VIEW}, source=str(tmp_path), full_names=True)
    assert out.column("stats:temp").to_pylist() == [2.5, 9.0]
    with pytest.raises(InvalidParameterValue, match="Unknown feature view"):
        get_historical_features({"m": ["a"], "event_time": [1]}, ["nope:x"], {"stats": VIEW},
                                source=str(tmp_path))
