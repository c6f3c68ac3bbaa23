"""``loopml models ...`` end to end in a subprocess, against an embedded store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _run(args: list[str], home: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOOPML_HOME": str(home), "COLUMNS": "200",
           "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONWARNINGS": "ignore"}
    env.pop("LOOPML_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", "loopml", *args], capture_output=True,
                          text=True, env=env, timeout=300, cwd=cwd)


TRAIN = """
import pandas as pd, loopml
from loopml import models
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
x, y = load_breast_cancer(return_X_y=True, as_frame=True)
x[:5].to_csv("rows.csv", index=False)
x[:5].drop(columns=["mean radius"]).to_csv("bad.csv", index=False)
with loopml.start_run():
    loopml.log_input(x, name="cancer")
    models.log_model(HistGradientBoostingClassifier(max_iter=20).fit(x, y), "model",
                     input_example=x[:20], registered_model_name="bc")
with loopml.start_run():
    models.log_model(LogisticRegression(max_iter=50).fit(x, y), "model",
                     registered_model_name="bc", serialization_format="cloudpickle")
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("cli-models")
    env = {**os.environ, "LOOPML_HOME": str(home / "h"), "PYTHONWARNINGS": "ignore"}
    env.pop("LOOPML_TRACKING_URI", None)
    subprocess.run([sys.executable, "-c", TRAIN], check=True, cwd=home, env=env, timeout=300)
    return home


def test_alias_onnx_predict_lineage(home: Path) -> None:
    h = home / "h"
    assert _run(["models", "alias", "bc", "champion", "1"], h).returncode == 0
    out = _run(["models", "to-onnx", "models:/bc@champion"], h)
    assert out.returncode == 0 and "ONNX flavor added" in out.stdout, out.stderr
    for extra in ([], ["--flavor", "onnx"]):
        pred = _run(["models", "predict", "models:/bc@champion", "-i", str(home / "rows.csv"),
                     *extra], h)
        assert pred.returncode == 0, pred.stderr
        assert json.loads(pred.stdout)["predictions"] == [0, 0, 0, 0, 0]
    info = json.loads(_run(["models", "info", "models:/bc/1"], h).stdout)
    assert info["flavors"] == ["onnx", "python_function", "sklearn"] and info["onnx"]["converted"]
    listed = _run(["models", "versions", "bc"], h).stdout
    assert "champion" in listed and "2" in listed
    tree = _run(["lineage", "models:/bc@champion"], h)
    assert tree.returncode == 0 and "dataset cancer" in tree.stdout


def test_bad_input_and_trust(home: Path) -> None:
    h = home / "h"
    bad = _run(["models", "predict", "models:/bc/1", "-i", str(home / "bad.csv")], h)
    assert bad.returncode == 2 and "Missing column(s) ['mean radius']" in bad.stderr
    for name, text in (("broken.json", "{"), ("empty.json", ""),
                       ("split.json", '{"dataframe_split": {"columns": ["a"]}}')):
        (home / name).write_text(text)
        r = _run(["models", "predict", "models:/bc/1", "-i", str(home / name)], h)
        assert r.returncode == 2 and name in r.stderr and "unexpected" not in r.stderr, r.stderr
    missing = _run(["models", "predict", "models:/bc/99", "-i", str(home / "rows.csv")], h)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    pickled = _run(["models", "predict", "models:/bc/2", "-i", str(home / "rows.csv")], h)
    assert pickled.returncode == 2 and "--trust-pickle" in pickled.stderr
    ok = _run(["models", "predict", "models:/bc/2", "-i", str(home / "rows.csv"),
               "--trust-pickle"], h)
    assert ok.returncode == 0, ok.stderr
    assert _run(["models", "trust", "models:/bc/2"], h).returncode == 0
    assert _run(["models", "predict", "models:/bc/2", "-i", str(home / "rows.csv")],
                h).returncode == 0
    assert _run(["models", "alias", "bc", "latest", "1"], h).returncode == 2


def test_help_lists_model_commands() -> None:
    out = subprocess.run([sys.executable, "-m", "loopml", "models", "--help"],
                         capture_output=True, text=True)
    for cmd in ("predict", "info", "to-onnx", "register", "alias", "trust", "list", "versions"):
        assert cmd in out.stdout
