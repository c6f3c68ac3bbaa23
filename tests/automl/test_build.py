"""``loopml build`` end to end on tiny data: checked, searched, measured, registered,
deployed, monitored; a rerun reuses the finished stages; an impossible budget deploys
nothing; bad data exits 2 with the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner


def _csv(path: Path, n: int = 240) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    colour = rng.choice(["red", "green", "blue"], n)
    y = np.where(x[:, 0] + (colour == "red") + 0.5 * rng.normal(size=n) > 0.3, "yes", "no")
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "colour": colour,
                  "label": y}).to_csv(path, index=False)
    return path


@pytest.mark.slow  # two builds with refits and harness workers: ~60 s on a loaded 2-core box
def test_build_deploys_monitors_and_resumes(embedded_home: Path, tmp_path: Path) -> None:
    from loopml.automation import load_policies
    from loopml.automl import build
    from loopml.monitoring.spec import load_specs
    from loopml.store import get_deployment_store, get_registry_store
    from loopml.tracking._fluent import client

    data = _csv(tmp_path / "churn.csv")
    res = build(str(data), "label", budget_s=3, p99_ms=1000, families=["linear", "hist_gb"],
                calls=20, name="churn")
    assert res.deployed and res.model_uri == "models:/churn/1" and res.task == "binary"
    assert res.trials >= 2 and res.test_score is not None and res.test_score > 0.6
    c = client()
    d = get_deployment_store(c.store).get_deployment("churn")
    assert [r.model_uri for r in d.routes] == ["models:/churn/1"]
    mv = get_registry_store(c.store).get_model_version("churn", "1")
    assert mv.tags["loopml.automl.data_fingerprint"].startswith("file:")
    assert mv.tags["loopml.automl.candidate"] == res.chosen
    (spec,) = load_specs(str(res.monitors_file))
    assert spec.deployment == "churn" and spec.rules[0].metric == "drift.share_drifted"
    (policy,) = load_policies(Path(str(res.policies_file)))
    assert policy.retrain.pipeline == "loopml.automl.flow:retrain"
    assert "/v2/models/churn/infer" in res.curl and '"colour"' in res.curl
    # every trial is a run nested under the automl step's run
    fit_run = mv.tags["loopml.automl.fit_run"]
    exp = c.get_run(fit_run).info.experiment_id
    trials = [r for r in c.store.search_runs([exp], "", max_results=1000)
              if r.data.tags.get("loopml.automl.family")]
    assert len(trials) == res.trials
    assert len({r.data.tags["mlflow.parentRunId"] for r in trials}) == 1
    again = build(str(data), "label", budget_s=3, p99_ms=1000, families=["linear", "hist_gb"],
                  calls=20, name="churn")
    assert {"load", "check", "split", "automl", "fit", "select"} <= set(again.cached_steps)
    assert again.model_uri == "models:/churn/2"


def test_an_impossible_budget_deploys_nothing(embedded_home: Path, tmp_path: Path) -> None:
    from loopml.automl import build
    from loopml.errors import ResourceDoesNotExist
    from loopml.store import get_deployment_store
    from loopml.tracking._fluent import client

    res = build(str(_csv(tmp_path / "d.csv")), "label", budget_s=2, p99_ms=0.0001,
                families=["linear"], calls=20, name="tight")
    assert not res.deployed and res.model_uri is None and res.misses
    assert "no feasible candidate" in res.selection_message
    assert "relax the latency budget" in res.misses[0]["fix"]
    with pytest.raises(ResourceDoesNotExist):
        get_deployment_store(client().store).get_deployment("tight")


@pytest.mark.parametrize(("content", "needle"), [
    ("", "is empty"),
    ("a,b,label\n" + "".join(f"{i},{'x' if i % 2 else i},{i % 2}\n" for i in range(40)),
     "mixes numbers and text"),
    ("a,label\n" + "".join(f"{i},1\n" for i in range(40)), "one class"),
])
def test_cli_bad_data_exits_2_with_the_reason(embedded_home: Path, tmp_path: Path,
                                              content: str, needle: str) -> None:
    from loopml.cli.main import app

    p = tmp_path / "bad.csv"
    p.write_text(content)
    r = CliRunner().invoke(app, ["build", str(p), "--target-column", "label", "--budget-s", "2"])
    assert r.exit_code == 2, r.output
    assert needle in r.output
