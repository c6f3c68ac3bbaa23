"""Lineage: dataset -> run -> model version, from the Python API, the REST API and the CLI."""

from __future__ import annotations

import httpx
import pandas as pd
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import loopml
from loopml import models
from loopml.cli.main import app
from loopml.registry.lineage import lineage
from loopml.store import get_registry_store
from loopml.tracking._datasets import dataset_digest
from tests.server.conftest import LiveServer


def _train(iris) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    x, y = iris
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    with loopml.start_run(run_name="train") as run:
        digest = loopml.log_input(frame, name="iris", source="s3://data/iris.parquet")
        loopml.log_input(frame[:20], name="iris-eval", context="evaluation")
        models.log_model(LogisticRegression(max_iter=300).fit(frame, y), "model",
                         registered_model_name="iris-lineage")
    return run.run_id, digest


def test_graph_from_alias(embedded_home, iris) -> None:
    run_id, digest = _train(iris)
    store = loopml.tracking.client().store
    reg = get_registry_store(store)
    reg.set_registered_model_alias("iris-lineage", "champion", 1)
    g = lineage(store, reg, model_uri="models:/iris-lineage@champion").to_dict()
    kinds = {n["id"]: n["kind"] for n in g["nodes"]}
    assert g["root"] == "model_version:iris-lineage/1"
    assert kinds[f"run:{run_id}"] == "run" and kinds[f"dataset:{digest}"] == "dataset"
    rels = {(e["from"], e["to"], e["relation"], e.get("context", "")) for e in g["edges"]}
    assert (f"dataset:{digest}", f"run:{run_id}", "input_to", "training") in rels
    assert (f"run:{run_id}", "model_version:iris-lineage/1", "produced", "") in rels
    ds = next(n for n in g["nodes"] if n["id"] == f"dataset:{digest}")
    assert ds["source"] == "s3://data/iris.parquet" and '"name":"a"' in ds["schema"]
    # and backwards, from the run
    g2 = lineage(store, reg, run_id=run_id).to_dict()
    assert any(e["to"] == "model_version:iris-lineage/1" for e in g2["edges"])

    from loopml.entities import TrafficRoute
    from loopml.store import get_deployment_store

    deps = get_deployment_store(store)
    deps.create_deployment("iris-live", [TrafficRoute("models:/iris-lineage@champion", 90),
                                         TrafficRoute("runs:/elsewhere/model", 10)])
    g3 = lineage(store, reg, model_uri="models:/iris-lineage/1", deployments=deps).to_dict()
    assert {"from": "model_version:iris-lineage/1", "to": "deployment:iris-live",
            "relation": "serves_in", "weight": "0.900"} in g3["edges"]

    out = CliRunner().invoke(app, ["lineage", "models:/iris-lineage@champion"])
    assert out.exit_code == 0, out.output
    assert "iris-lineage v1 @champion" in out.output and digest in out.output
    assert "[training]" in out.output and "[evaluation]" in out.output
    assert "serves in deployment iris-live (revision 1) (90% of traffic)" in out.output


def test_digest_is_content_based(iris) -> None:
    x, _ = iris
    a = pd.DataFrame(x, columns=list("abcd"))
    assert dataset_digest(a) == dataset_digest(a.copy())
    assert dataset_digest(a) != dataset_digest(a.iloc[:-1])
    assert dataset_digest(a) != dataset_digest(a.rename(columns={"a": "z"}))


def test_lineage_api(live_server: LiveServer, iris, monkeypatch) -> None:
    monkeypatch.setenv("LOOPML_TRACKING_URI", live_server.url)
    import loopml.tracking._fluent as fluent

    monkeypatch.setattr(fluent, "_client", None)
    monkeypatch.setattr(fluent, "_tracking_uri", None)  # one an earlier test set
    monkeypatch.setattr(fluent, "_experiment", None)
    run_id, digest = _train(iris)
    r = httpx.get(f"{live_server.url}/api/loopml/v1/lineage",
                  params={"uri": "models:/iris-lineage/1"})
    assert r.status_code == 200, r.text
    ids = {n["id"] for n in r.json()["nodes"]}
    assert {f"run:{run_id}", f"dataset:{digest}", "model_version:iris-lineage/1"} <= ids
    bad = httpx.get(f"{live_server.url}/api/loopml/v1/lineage", params={"uri": "runs:/x/y"})
    assert bad.status_code == 400 and "models:/" in bad.json()["message"]
    assert httpx.get(f"{live_server.url}/api/loopml/v1/lineage").status_code == 400
