"""SHAP explanations: the V1 (:explain) and V2 routes, the CLI, background and importance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.serving.conftest import Served, start

pytest.importorskip("shap")


@pytest.fixture(scope="module")
def explained_dirs(tmp_path_factory, cancer) -> dict[str, Path]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    from loopml import models

    x, y, names = cancer
    frame = pd.DataFrame(x, columns=names)
    root = tmp_path_factory.mktemp("explain-models")
    hgb = HistGradientBoostingClassifier(max_iter=20).fit(frame, y)
    models.save_model(hgb, root / "hgb", input_example=frame[:5], background=frame)
    lr = LogisticRegression(max_iter=3000).fit(x[:, :5], y)
    models.save_model(lr, root / "linear", input_example=x[:3, :5], background=x[:40, :5])
    models.save_model(hgb, root / "bare", input_example=frame[:5])
    return {"hgb": root / "hgb", "linear": root / "linear", "bare": root / "bare"}


@pytest.fixture(scope="module")
def explain_served(explained_dirs, tmp_path_factory) -> Iterator[Served]:
    s = start({k: str(v) for k, v in explained_dirs.items()}, tmp_path_factory.mktemp("ex"))
    yield s
    s.stop()


def test_background_and_importance_saved(explained_dirs) -> None:
    folder = explained_dirs["hgb"]
    bg = orjson.loads((folder / "explain/background.json").read_bytes())
    assert len(bg["data"]) == 100 and len(bg["columns"]) == 30
    imp = orjson.loads((folder / "explain/importance.json").read_bytes())
    values = list(imp["importance"].values())
    assert imp["method"] == "mean_abs_shap" and len(values) == 30
    assert values == sorted(values, reverse=True) and values[0] > 0
    assert not (explained_dirs["linear"] / "explain/importance.json").exists()  # not a tree


def test_v1_explain_tree_matches_shap(explain_served: Served, explained_dirs, cancer) -> None:
    import shap

    from loopml import models
    from loopml.models.explain import read_background

    x, _, names = cancer
    r = httpx.post(f"{explain_served.url}/v1/models/hgb:explain",
                   json={"instances": x[:3].tolist()}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["explainer"] == "tree" and body["feature_names"] == names
    m = models.load(str(explained_dirs["hgb"]))
    bg, source = read_background(m)
    assert source == "background"
    expected = shap.TreeExplainer(m.native, data=bg)(pd.DataFrame(x[:3], columns=names))
    np.testing.assert_allclose(body["shap_values"], expected.values, rtol=1e-6, atol=1e-9)
    # base + sum(SHAP) is the model's raw output (log-odds; shap's reading of
    # HistGradientBoosting's trees leaves a constant offset of ~0.002)
    raw = m.native.decision_function(pd.DataFrame(x[:3], columns=names))
    np.testing.assert_allclose(np.sum(body["shap_values"], axis=1) + body["base_values"], raw,
                               atol=0.01)


def test_v2_explain_and_kernel(explain_served: Served, cancer) -> None:
    x, _, _ = cancer
    req = {"id": "q1", "inputs": [{"name": "input-0", "shape": [2, 5], "datatype": "FP64",
                                   "data": x[:2, :5].ravel().tolist()}]}
    r = httpx.post(f"{explain_served.url}/v2/models/linear/explain", json=req, timeout=120)
    assert r.status_code == 200, r.text
    body = r.json()
    shap_out = {o["name"]: o for o in body["outputs"]}
    assert shap_out["shap_values"]["shape"] == [2, 5] and body["id"] == "q1"
    assert body["parameters"]["explainer"] == "kernel"
    assert body["parameters"]["output"] == "probability"


def test_explain_without_background_says_how(explain_served: Served, cancer) -> None:
    x, _, _ = cancer
    r = httpx.post(f"{explain_served.url}/v1/models/bare:explain",
                   json={"instances": x[:1].tolist()}, timeout=60)
    assert r.status_code == 400 and "background=X_train" in r.json()["error"]
    r = httpx.post(f"{explain_served.url}/v1/models/nope:explain", json={"instances": [[1]]})
    assert r.status_code == 404
    r = httpx.post(f"{explain_served.url}/v1/models/hgb:explain", json={"instances": [[1, 2]]})
    assert r.status_code == 400
    r = httpx.post(f"{explain_served.url}/v1/models/hgb:explain",
                   json={"instances": np.tile(x[:1], (101, 1)).tolist()}, timeout=60)
    assert r.status_code == 400 and "at most 100 rows" in r.json()["error"]


def test_budget_refuses_slow_requests(explained_dirs, cancer) -> None:
    from loopml import models
    from loopml.models.explain import Explainer, ExplainTooSlow

    x, _, _ = cancer
    ex = Explainer(models.load(str(explained_dirs["linear"])))
    with pytest.raises(ExplainTooSlow, match="fewer rows"):
        ex.explain(x[:50, :5], budget_ms=0.001)


def test_cli_explain(explained_dirs, cancer, tmp_path) -> None:
    from loopml.cli.main import app

    x, _, names = cancer
    inp = tmp_path / "rows.json"
    inp.write_text(json.dumps({"dataframe_split": {"columns": names, "data": x[:2].tolist()}}))
    r = CliRunner().invoke(app, ["models", "explain", str(explained_dirs["hgb"]), "-i", str(inp)])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert np.asarray(out["shap_values"]).shape == (2, 30)
    r = CliRunner().invoke(app, ["models", "explain", str(explained_dirs["bare"]), "-i", str(inp)])
    assert r.exit_code == 2 and "background" in r.output
