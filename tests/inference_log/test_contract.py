"""The inference log's contract: one record type, typed inputs end to end, one writer and
one reader over a folder or an object store, and write-ahead recovery after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from loopml.inference_log import (
    InferenceLogReader,
    InferenceLogWriter,
    InferenceRecord,
    features,
    outputs,
    per_request,
)


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"age": np.array([41, 17], dtype="int64"),
                         "income": [1.5, 2.5], "city": ["Oslo", "Lima"]})


def test_column_types_survive_the_log(tmp_path) -> None:
    w = InferenceLogWriter(tmp_path, flush_ms=60_000)
    w.record("d", "r1", "m", "1", _frame(), np.array([1, 0]), 2.0)
    w.record("d", "r2", "m", "1", None, {"error": "bad"}, 1.0, status=400)
    w.close()
    rows = InferenceLogReader(tmp_path).read("d")
    assert list(rows.request_id) == ["r1", "r2"] and list(rows.status) == [200, 400]
    feats = features(rows.inputs)
    assert feats.age.dtype == np.int64 and feats.income.dtype == np.float64
    assert pd.api.types.is_string_dtype(feats.city)
    assert feats.age.tolist() == [41, 17] and feats.city.tolist() == ["Oslo", "Lima"]
    assert outputs(rows.outputs[:1]) == [1, 0] and per_request(rows.outputs) == [1, {"error": "bad"}]
    # the Parquet file itself holds a typed struct, not text
    [f] = list(tmp_path.glob("deployment=d/date=*/part-*.parquet"))
    typ = pq.read_schema(f).field("inputs").type
    assert {f.name: str(f.type.value_type) for f in typ} == {
        "age": "int64", "income": "double", "city": "string"}


def test_unnamed_tensors_take_the_reference_names(tmp_path) -> None:
    w = InferenceLogWriter(tmp_path)
    w.record("d", "a", "m", "1", np.arange(6, dtype="int32").reshape(2, 3), [0, 1], 1.0)
    w.record("d", "b", "m", "1", np.array([7, 8, 9], "int32"), [1], 1.0)  # 1-D: one row
    w.close()
    feats = features(InferenceLogReader(tmp_path).read("d").inputs, ["x", "y", "z"])
    assert list(feats.columns) == ["x", "y", "z"] and feats.x.dtype == np.dtype("int32")
    assert feats.to_numpy().tolist() == [[0, 1, 2], [3, 4, 5], [7, 8, 9]]


def test_models_with_different_signatures_share_a_deployment(tmp_path) -> None:
    w = InferenceLogWriter(tmp_path)
    w.record("d", "a", "m", "1", pd.DataFrame({"a": [1]}), [0], 1.0)
    w.record("d", "b", "m", "2", pd.DataFrame({"a": [2], "b": [0.5]}), [1], 1.0)
    w.close()
    rows = InferenceLogReader(tmp_path).read("d")
    assert list(rows.version) == ["1", "2"]
    assert features(rows.inputs).a.tolist() == [1, 2]


def test_since_and_roles(tmp_path) -> None:
    w = InferenceLogWriter(tmp_path)
    w.record("d", "old", "m", "1", [1.0], [0], 1.0)
    w.flush()
    cut = time.time_ns() // 1000
    w.record("d", "new", "m", "1", [1.0], [0], 1.0)
    w.record("d", "shadow", "m2", "1", [1.0], [0], 1.0, role="shadow")
    w.close()
    r = InferenceLogReader(tmp_path)
    assert list(r.read("d").request_id) == ["old", "new"]
    assert list(r.read("d", since_us=cut).request_id) == ["new"]
    assert set(r.read("d", roles=("primary", "shadow")).request_id) == {"old", "new", "shadow"}
    assert r.read("nothing").empty


def test_json_line_round_trip_keeps_types() -> None:
    rec = InferenceRecord.of("d", "r", "m", "1", _frame(), np.array([0.25]), 3.0)
    back = InferenceRecord.from_json_line(rec.to_json_line())
    assert back.inputs is not None and rec.inputs is not None
    assert {k: v.dtype.kind for k, v in back.inputs.items()} == {"age": "i", "income": "f",
                                                                "city": "O"}
    assert back.timestamp_us == rec.timestamp_us and back.outputs == [0.25]


def test_object_store_backend(s3_bucket_uri: str) -> None:
    w = InferenceLogWriter(s3_bucket_uri)
    assert w.wal_root is None  # no local write-ahead folder for an object store by default
    w.record("d", "r1", "m", "1", _frame(), [1, 0], 2.0)
    w.close()
    rows = InferenceLogReader(s3_bucket_uri).read("d")
    assert list(rows.request_id) == ["r1"] and features(rows.inputs).age.dtype == np.int64


def test_killed_writer_loses_no_acknowledged_record(tmp_path) -> None:
    """A writer process killed with SIGKILL after ``write`` returned: the next writer on
    the folder compacts its write-ahead file, and every record is there."""
    script = textwrap.dedent(f"""
        import sys
        from loopml.inference_log import InferenceLogWriter
        w = InferenceLogWriter({str(tmp_path)!r}, flush_ms=60_000, flush_records=10**9)
        for i in range(500):
            w.record("d", str(i), "m", "1", [[float(i), 1.0]], [i], 1.0)
        print("acked", flush=True)
        sys.stdin.readline()
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"acked"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert not list(tmp_path.glob("deployment=*/**/*.parquet"))  # nothing compacted yet
    w = InferenceLogWriter(tmp_path)
    w.close()
    rows = InferenceLogReader(tmp_path).read("d")
    assert sorted(rows.request_id, key=int) == [str(i) for i in range(500)]
    assert not [p for p in (tmp_path / "_wal").iterdir()]  # recovered segments are removed
