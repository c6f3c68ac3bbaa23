"""Batch prediction: chunks, parallel workers, request ids, the inference log, resume after
a crash without duplicates, and bad input refused before any work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LinearRegression

from loopml import models
from loopml.batch import _worker, predict_batch
from loopml.errors import InvalidParameterValue


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("batch")
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=5000), "b": rng.normal(size=5000)})
    model = LinearRegression().fit(x, 2 * x.a - x.b)
    models.save_model(model, d / "model", input_example=x.head(3))
    x.assign(id=np.arange(5000)).iloc[:2500].to_parquet(d / "in-0.parquet")
    x.assign(id=np.arange(5000)).iloc[2500:].to_parquet(d / "in-1.parquet")
    x[["a"]].to_parquet(d / "missing.parquet")
    return {"dir": d, "model": d / "model", "input": d / "in-*.parquet",
            "missing": d / "missing.parquet"}


def _expected(setup: dict[str, Path]) -> np.ndarray:
    frame = pd.concat([pd.read_parquet(setup["dir"] / f"in-{i}.parquet") for i in range(2)])
    return np.asarray(2 * frame.a - frame.b)


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_chunks_workers_log(setup, tmp_path, workers: int) -> None:
    out = tmp_path / "scores.parquet"
    r = predict_batch(str(setup["model"]), str(setup["input"]), out, chunk_rows=700,
                      workers=workers, keep_columns=["id"],
                      inference_log=str(tmp_path / "log"))
    assert (r.rows, r.chunks, r.skipped_chunks) == (5000, 8, 0)
    t = pq.read_table(out)
    assert t.column_names == ["request_id", "id", "prediction"]
    assert t.column("id").to_pylist() == list(range(5000))  # source order kept
    np.testing.assert_allclose(t.column("prediction").to_numpy(), _expected(setup), atol=1e-9)
    assert len(set(t.column("request_id").to_pylist())) == 5000
    assert not out.with_name("scores.parquet.parts").exists()
    from loopml.inference_log import read_log

    log = read_log(str(tmp_path / "log"), "batch")
    assert len(log) == 8 and set(log["model"]) == {str(setup["model"])}
    assert sorted(log["request_id"])[0].endswith("-000000")


def test_missing_signature_column_refused_before_work(setup, tmp_path) -> None:
    out = tmp_path / "x.parquet"
    with pytest.raises(InvalidParameterValue, match=r"lacks column\(s\) \['b'\]"):
        predict_batch(str(setup["model"]), str(setup["missing"]), out)
    assert not out.exists() and not out.with_name("x.parquet.parts").exists()


def test_resume_after_crash_without_duplicates(setup, tmp_path, monkeypatch) -> None:
    out = tmp_path / "resumed.parquet"
    real = _worker.score
    calls: list[int] = []

    def crash_on_third(job, index, batch, parts):  # type: ignore[no-untyped-def]
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        calls.append(index)
        return real(job, index, batch, parts)

    monkeypatch.setattr(_worker, "score", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        predict_batch(str(setup["model"]), str(setup["input"]), out, chunk_rows=1000)
    assert not out.exists()
    monkeypatch.setattr(_worker, "score", real)
    r = predict_batch(str(setup["model"]), str(setup["input"]), out, chunk_rows=1000)
    assert (r.skipped_chunks, r.chunks, r.rows) == (3, 6, 5000)  # chunks end at files
    np.testing.assert_allclose(pq.read_table(out).column("prediction").to_numpy(),
                               _expected(setup), atol=1e-9)


def test_cli(setup, tmp_path) -> None:
    out = tmp_path / "cli.parquet"
    env = {**os.environ, "LOOPML_HOME": str(tmp_path / "home")}
    r = subprocess.run([sys.executable, "-m", "loopml", "predict", str(setup["model"]),
                        "--input", str(setup["input"]), "--output", str(out),
                        "--chunk-rows", "2000"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Predicted 5000 rows in 4 chunk(s)" in r.stdout and out.exists()
    bad = subprocess.run([sys.executable, "-m", "loopml", "predict", str(setup["model"]),
                          "--input", str(setup["missing"]), "--output", str(tmp_path / "b.pq")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "lacks column" in bad.stderr


def test_pipeline_step(setup, tmp_path, embedded_home) -> None:
    from loopml.batch.step import batch_predict
    from loopml.pipelines import pipeline

    out = str(tmp_path / "step.parquet")

    @pipeline
    def nightly(chunk: int = 2000):
        return batch_predict(str(setup["model"]), str(setup["input"]), out, chunk_rows=chunk,
                             keep_columns="id")

    result = nightly.run({"chunk": 2000})
    assert result.status == "SUCCEEDED", result
    assert result.output("batch_predict")["rows"] == 5000
    assert pq.read_table(out).column_names == ["request_id", "id", "prediction"]


@pytest.mark.slow
def test_ray_executor(setup, tmp_path) -> None:
    ray = pytest.importorskip("ray")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    try:
        out = tmp_path / "ray.parquet"
        r = predict_batch(str(setup["model"]), str(setup["input"]), out, chunk_rows=1000,
                          workers=2, executor="ray", keep_columns=["id"])
        assert (r.rows, r.chunks) == (5000, 6)
        t = pq.read_table(out)
        assert t.column("id").to_pylist() == list(range(5000))
        np.testing.assert_allclose(t.column("prediction").to_numpy(), _expected(setup),
                                   atol=1e-9)
    finally:
        ray.shutdown()


def test_unknown_executor(setup, tmp_path) -> None:
    with pytest.raises(InvalidParameterValue, match="Unknown executor"):
        predict_batch(str(setup["model"]), str(setup["input"]), tmp_path / "x.pq",
                      executor="dask")


def test_output_that_is_an_input_file_is_refused(setup, tmp_path) -> None:
    src = tmp_path / "in.parquet"
    pd.read_parquet(setup["dir"] / "in-0.parquet").to_parquet(src)
    before = src.read_bytes()
    with pytest.raises(InvalidParameterValue, match="would overwrite the input"):
        predict_batch(str(setup["model"]), str(src), src)
    with pytest.raises(InvalidParameterValue, match="would overwrite the input"):
        predict_batch(str(setup["model"]), str(tmp_path / "*.parquet"), tmp_path / "in.parquet")
    assert src.read_bytes() == before


def test_output_must_be_a_parquet_file_name(setup, tmp_path) -> None:
    with pytest.raises(InvalidParameterValue, match="must name a Parquet file"):
        predict_batch(str(setup["model"]), str(setup["dir"] / "in-0.parquet"), tmp_path / "o.csv")
    assert not (tmp_path / "o.csv").exists()
