"""The dataset registry's Python API and CLI on the embedded store, and datasets logged by
the unmodified MLflow client appearing in it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from loopml.data.registry import (
    diff_versions,
    download_dataset,
    recordable_source,
    register_dataset,
)
from loopml.errors import InvalidState
from tests.server.conftest import live_server, mlflow_client_env  # noqa: F401 (fixtures)


@pytest.fixture
def frames(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(1)
    a = pd.DataFrame({"x": rng.normal(size=2000), "c": rng.choice(["u", "v"], 2000)})
    b = a.assign(x=a.x + 2.0, z=1.0).drop(columns=["c"])
    a.to_parquet(tmp_path / "a.parquet")
    b.to_parquet(tmp_path / "b.parquet")
    return {"a": tmp_path / "a.parquet", "b": tmp_path / "b.parquet", "dir": tmp_path}


def test_register_dedupe_diff_download(embedded_home, frames) -> None:
    v1 = register_dataset(str(frames["a"]), "events", aliases=["golden"], tags={"k": "v"})
    again = register_dataset(str(frames["dir"] / "a.*"), "events")
    v2 = register_dataset(str(frames["b"]), "events", materialize=True)
    assert (v1.version, again.version, v2.version) == (1, 1, 2)
    assert v1.aliases == ("golden",) and v1.num_rows == 2000 and v1.tags == {"k": "v"}
    assert v1.profile["columns"] and v1.schema["columns"]
    d = diff_versions("events", "golden", "latest")
    assert d.added == ["z"] and d.removed == ["c"] and d.drift.drifted_columns == ["x"]
    out = download_dataset("events", 2, frames["dir"] / "out2.parquet")  # materialised
    assert pq.read_table(out).num_rows == 2000
    out1 = download_dataset("events", 1, frames["dir"] / "out1.parquet")  # re-read source
    assert pq.read_table(out1).column_names == ["x", "c"]
    pd.DataFrame({"x": [1.0], "c": ["u"]}).to_parquet(frames["a"])  # the source changes
    with pytest.raises(InvalidState, match="has changed since it was registered"):
        download_dataset("events", 1, frames["dir"] / "out3.parquet")
    assert not (frames["dir"] / "out3.parquet").exists()


def test_recorded_source_masks_passwords_keeps_references() -> None:
    assert recordable_source("postgresql://u:pw@h/db?query=x") == "postgresql://u:***@h/db?query=x"
    assert recordable_source("postgresql://u:${env:PW}@h/db") == "postgresql://u:${env:PW}@h/db"


def test_log_dataset_and_mlflow_log_input_appear(embedded_home, mlflow_client_env, frames) -> None:  # noqa: F811
    import mlflow

    from loopml.store import get_dataset_store
    from loopml.store.rest import RestStore

    df = pd.read_parquet(frames["a"])
    with mlflow.start_run() as run:
        mlflow.log_input(mlflow.data.from_pandas(df, source="s3://lake/a.parquet", name="mlf"),
                         context="training")
    store = get_dataset_store(RestStore(mlflow_client_env))
    v = store.get_version("mlf", "latest")
    assert v.version == 1 and v.source.startswith("s3://lake") and v.num_rows == 2000
    assert [x.ref for x in store.lineage("mlf", 1)] == [run.info.run_id]
    assert [d.name for d in store.list_datasets(name_like="mlf")] == ["mlf"]


def _cli(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOOPML_HOME": str(home), "COLUMNS": "200"}
    env.pop("LOOPML_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", "loopml", "datasets", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_cli(tmp_path: Path, frames) -> None:
    home = tmp_path / "home"
    assert _cli(["register", "ev", str(frames["a"]), "--alias", "gold"], home).returncode == 0
    r = _cli(["register", "ev", str(frames["b"]), "--materialize"], home)
    assert r.returncode == 0 and "version 2" in r.stdout, r.stderr
    assert "ev" in _cli(["list"], home).stdout
    assert "aliases=gold" in _cli(["versions", "ev"], home).stdout
    assert '"version": 1' in _cli(["get", "ev", "gold"], home).stdout
    d = _cli(["diff", "ev", "1", "2"], home)
    assert d.returncode == 0 and "+ z" in d.stdout and "DRIFT" in d.stdout
    out = tmp_path / "dl.parquet"
    assert _cli(["download", "ev", "2", "-o", str(out)], home).returncode == 0 and out.exists()
    missing = _cli(["get", "nope"], home)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    nomatch = _cli(["register", "ev", str(tmp_path / "*.none")], home)
    assert nomatch.returncode == 2 and "no file matches" in nomatch.stderr
