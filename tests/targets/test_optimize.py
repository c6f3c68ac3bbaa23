"""``optimize`` end to end: a tracked run with report + SVG, a derived version with lineage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loopml.targets import probe


@pytest.fixture
def registered(embedded_home: Path, tabular):  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    import loopml
    from loopml import models

    x, y = tabular
    with loopml.start_run():
        models.log_model(LogisticRegression().fit(x[:300], y[:300]), "model",
                         input_example=x[:3], registered_model_name="clf")
    return "models:/clf/1"


def test_optimize_registers_the_chosen_variant(registered: str, tabular) -> None:  # type: ignore[no-untyped-def]
    from loopml.store import get_registry_store
    from loopml.targets.optimize import optimize
    from loopml.tracking._fluent import client

    x, y = tabular
    report = optimize(registered, probe("here", budget_ms=50), (x[300:], y[300:]), calls=30,
                      rounds=1, retries=0, warmup_s=0)
    assert report.chosen is not None and report.chosen.candidate.runtime == "onnxruntime"
    assert report.derived_uri == "models:/clf/2"
    mv = get_registry_store(client().store).get_model_version("clf", "2")
    assert mv.tags["loopml.derived_from"] == "models:/clf/1"
    assert json.loads(mv.tags["loopml.recipe"])["runtime"] == "onnxruntime"
    assert mv.tags["loopml.optimize_run"] == report.run_id
    from loopml.registry.lineage import lineage

    g = lineage(client().store, get_registry_store(client().store), model_uri="models:/clf/2")
    parent_run = get_registry_store(client().store).get_model_version("clf", "1").run_id
    assert f"run:{parent_run}" in {n["id"] for n in g.to_dict()["nodes"]}
    arts = client().list_artifacts(report.run_id)
    assert {"pareto.svg", "report.json", "model"} <= set(arts)
    from loopml import models

    derived = models.load("models:/clf/2")
    assert derived.flavor.name == "onnx"
    assert (derived.predict(x[300:305]) == models.load(registered).predict(x[300:305])).all()


def test_impossible_budget_registers_nothing(registered: str, tabular) -> None:  # type: ignore[no-untyped-def]
    from loopml.targets.optimize import optimize

    x, y = tabular
    report = optimize(registered, probe("here", budget_ms=0.0001), (x[300:], y[300:]),
                      calls=20, rounds=1, retries=0, warmup_s=0)
    assert report.chosen is None and report.derived_uri is None
    assert report.selection.misses and "relax" in report.selection.misses[0]["fix"]


@pytest.mark.slow
def test_cli_optimize(registered: str, tabular, embedded_home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    x, y = tabular
    data = tmp_path / "hold.parquet"
    frame = pd.DataFrame(x[300:], columns=[f"x{i}" for i in range(x.shape[1])])
    frame["label"] = y[300:]
    data.write_bytes(b"")
    frame.to_parquet(data)
    env = {**os.environ, "LOOPML_HOME": str(embedded_home), "PYTHONWARNINGS": "ignore"}
    env.pop("LOOPML_TRACKING_URI", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "loopml", "target", *args], env=env,
                              capture_output=True, text=True, timeout=300)

    r = cli("probe", "--name", "box", "--budget-ms", "50", "--save")
    assert r.returncode == 0, r.stderr
    r = cli("optimize", registered, "--target", "box", "--data", str(data), "--calls", "20",
            "--rounds", "1")
    assert r.returncode == 0, r.stderr
    assert "chose onnx" in r.stdout and "registered models:/clf/2" in r.stdout
    assert "[measured on target]" in r.stdout
    r = cli("optimize", registered, "--target", "nope", "--data", str(data))
    assert r.returncode == 2 and "No target profile" in r.stderr
