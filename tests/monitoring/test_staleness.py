"""Stale-model metrics from a real store: model age, training-data age, labels age; and
alert rules on them ("champion older than 30 days", "no labels for 7 days")."""

from __future__ import annotations

import pandas as pd

from loopml.entities import Dataset, DatasetInput
from loopml.monitoring.alerts import FIRING, AlertEngine, AlertRule
from loopml.monitoring.staleness import DAY_MS, staleness_metrics
from loopml.store import get_monitoring_store, get_registry_store
from loopml.store.sql import SqlStore
from loopml.tracking._client import TrackingClient
from loopml.tracking._datasets import make_dataset


def test_staleness_metrics_and_rules(tmp_path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
    client = TrackingClient(store=store)
    run = store.create_run("0", start_time=1_000)
    ds: Dataset = make_dataset(pd.DataFrame({"x": [1.0, 2.0]}), "train")
    store.log_inputs(run.info.run_id, [DatasetInput(ds)])
    reg = get_registry_store(store)
    reg.create_registered_model("fraud")
    mv = reg.create_model_version("fraud", "/m", run_id=run.info.run_id)
    monitoring = get_monitoring_store(store)
    now = mv.creation_timestamp + 40 * DAY_MS
    m = staleness_metrics(client, monitoring, mv, now)
    assert round(m["staleness.model_age_days"]) == 40
    assert 39.9 < m["staleness.data_age_days"] < 40.1  # the dataset version's registration
    assert "staleness.labels_age_days" not in m  # no label yet
    monitoring.log_feedback([("r1", 1)])
    m = staleness_metrics(client, monitoring, mv, now)
    assert 39.9 < m["staleness.labels_age_days"] < 40.1
    engine = AlertEngine([AlertRule("old", "staleness.model_age_days", ">", 30),
                          AlertRule("nolabels", "staleness.labels_age_days", ">", 7)])
    events = engine.observe("fraud@champion", now, m)
    assert sorted(e.rule for e in events if e.type == FIRING) == ["nolabels", "old"]
    store.close()


def test_dashboard_shows_each_deployments_model_age(tmp_path) -> None:
    import httpx

    from loopml.entities import TrafficRoute
    from loopml.store import get_deployment_store
    from loopml.store.rest import RestStore
    from tests.server.conftest import start_server

    srv = start_server(tmp_path / "srv")
    try:
        rest = RestStore(srv.url)
        reg = get_registry_store(rest)
        reg.create_registered_model("aged")
        reg.create_model_version("aged", str(srv.artifacts / "m"))
        get_deployment_store(rest).create_deployment(
            "web", [TrafficRoute("models:/aged/1", 90.0), TrafficRoute("runs:/x/model", 10.0)])
        page = httpx.get(f"{srv.url}/ui/deployments").text
        assert "model age" in page and "0.0 days" in page
    finally:
        srv.stop()
