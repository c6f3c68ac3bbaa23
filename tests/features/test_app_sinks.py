"""The feature sinks as streaming-app sink kinds: an app file's ``online_store`` and
``offline_parquet`` sinks are built by the SINK_KINDS factories and checked like the others."""

from __future__ import annotations

import pyarrow as pa
import pytest

from loopml.errors import InvalidConfig
from loopml.streaming.io._base import SINK_KINDS, load_sink_modules

VIEWS = """views:
  - name: machine_stats
    entity: machine
    features: {temp_avg: float64}
"""


def test_online_store_sink_kind_writes_the_latest_row(tmp_path):
    load_sink_modules()
    assert {"online_store", "offline_parquet"} <= set(SINK_KINDS)
    (tmp_path / "features.yaml").write_text(VIEWS)
    sink = SINK_KINDS["online_store"]("stats", {"views": str(tmp_path / "features.yaml"),
                                                "view": "machine_stats"})
    batch = pa.table({"machine": ["m1", "m1", "m2"], "temp_avg": [70.0, 72.5, 60.0],
                      "_time": [1_000, 2_000, 1_500], "_key": ["a", "b", "c"]})
    sink.write(batch, {"s": "3"})
    got = sink.store.get_online_features({"machine": ["m1", "m2"]}, ["machine_stats:temp_avg"])
    assert got["temp_avg"] == [72.5, 60.0]  # the latest event per entity


def test_feature_sink_kinds_name_what_is_missing(tmp_path):
    load_sink_modules()
    with pytest.raises(InvalidConfig, match="needs views, view"):
        SINK_KINDS["online_store"]("stats", {})
    with pytest.raises(InvalidConfig, match="needs root"):
        SINK_KINDS["offline_parquet"]("lake", {"table": "x"})
