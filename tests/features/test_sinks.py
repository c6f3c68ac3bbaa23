"""The online_store and offline_parquet sinks: idempotent replays, offset-named files,
dataset versions with their events, S3 (moto) and a bucket that refuses writes."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loopml.features import FeatureView, get_historical_features, get_online_store
from loopml.features.sinks import sink_class
from loopml.features.sinks.offline import OfflineParquetSink, SinkWriteFailed, offsets_name
from loopml.features.sinks.online import OnlineStoreSink
from tests.artifacts.conftest import moto_endpoint, s3_bucket_uri  # noqa: F401  (fixtures)

VIEW = FeatureView(name="stats", entity="m", features={"temp": "float64", "n": "int64"})
H = 3_600_000
BATCH = pa.table({"m": ["a", "b", "a", "a"], "temp": [1.0, 2.0, 3.0, 0.5],
                  "n": [1, 2, 3, 0], "_time": [10, 20, 30, 25]})


def test_online_sink_latest_per_key_and_replay() -> None:
    store = get_online_store("memory://", [VIEW])
    sink = sink_class("online_store")("feat", store, "stats")
    assert isinstance(sink, OnlineStoreSink)
    sink.write(BATCH, {"s": "1-0"})
    assert store.read("stats", ["a", "b"]) == [[3.0, 3], [2.0, 2]]  # a@30 is the latest, not the last row
    sink.write(pa.table({"m": ["a"], "temp": [9.0], "n": [9], "_time": [29]}), {"s": "2-0"})  # late: ignored
    sink.write(BATCH, {"s": "1-0"})  # a replay
    assert store.read("stats", ["a"]) == [[3.0, 3]]


def _versions(embedded_home):  # type: ignore[no-untyped-def]
    from loopml.data.registry import dataset_store

    return dataset_store().list_versions("stats")


def test_offline_sink_local(embedded_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "lake"
    sink = OfflineParquetSink("stats-sync", str(root), table="stats")
    rows = pa.table({"m": ["a", "b", "a"], "temp": [1.0, 2.0, 3.0], "n": [1, 2, 3],
                     "_time": [10, H + 5, 2 * 24 * H]})
    sink.write(rows, {"sensors": "1700000000000-7"})
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet"))
    assert files == ["stats/dt=1970-01-01/hour=00/sensors-1700000000000-7.parquet",
                     "stats/dt=1970-01-01/hour=01/sensors-1700000000000-7.parquet",
                     "stats/dt=1970-01-03/hour=00/sensors-1700000000000-7.parquet"]
    assert not [p for p in root.rglob("*") if p.is_file() and "tmp" in p.name]  # renamed, no leftovers
    assert len(_versions(embedded_home)) == 3  # one dataset version per synced partition

    sink.write(rows, {"sensors": "1700000000000-7"})  # a redelivered batch: already synced
    again = OfflineParquetSink("stats-sync", str(root), table="stats")  # a restarted syncer
    assert again.checkpoint == {"sensors": "1700000000000-7"}
    again.write(rows, {"sensors": "1700000000000-7"})
    assert again.skipped == 3 and len(list(root.rglob("*.parquet"))) == 3

    again.checkpoint = {}  # crash before the checkpoint: the rewrite overwrites, same names
    again.write(rows, {"sensors": "1700000000000-7"})
    assert len(list(root.rglob("*.parquet"))) == 3 and len(_versions(embedded_home)) == 3

    import loopml.tracking._fluent as fluent

    events = fluent.client().store.read_events(types=["dataset.version_created"])
    assert len(events) == 3
    out = get_historical_features({"m": ["a"], "event_time": [H]}, ["stats:temp"], {"stats": VIEW},
                                  source=str(root))
    assert out.column("temp").to_pylist() == [1.0]  # the point-in-time read of what was synced


def test_offsets_name() -> None:
    assert offsets_name({"b": "2", "a/x": "1-0"}) == "a+x-1-0_b-2"
    with pytest.raises(ValueError, match="without offsets"):
        offsets_name({})


def test_offline_sink_s3_and_refused_writes(embedded_home, s3_bucket_uri) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    sink = OfflineParquetSink("s3-sync", s3_bucket_uri, table="stats", register=False)
    sink.write(BATCH, {"sensors": "5-0"})
    got = get_historical_features({"m": ["a", "b"], "event_time": [100, 100]}, ["stats:n"],
                                  {"stats": VIEW}, source=s3_bucket_uri)
    assert got.column("n").to_pylist() == [3, 2]

    errors: list[str] = []
    bad = OfflineParquetSink("bad-sync", "s3://no-such-bucket-loopml/x", table="stats",
                             on_error=lambda name, e: errors.append(name))
    with pytest.raises(SinkWriteFailed, match="could not sync 4 rows"):
        bad.write(BATCH, {"sensors": "6-0"})
    assert errors == ["bad-sync"] and bad.failures == 1 and bad.checkpoint == {}
    import loopml.tracking._fluent as fluent

    [event] = fluent.client().store.read_events(types=["sink.write_failed"])
    assert event.subject == "bad-sync" and "no-such-bucket" in event.payload["root"]


def test_parquet_rows_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    sink = OfflineParquetSink("x", str(tmp_path), register=False)
    sink.write(BATCH, {"p0": "41"})
    t = pq.read_table(next(tmp_path.rglob("*.parquet")))
    assert t.sort_by("_time").column("temp").to_pylist() == [1.0, 2.0, 0.5, 3.0]
