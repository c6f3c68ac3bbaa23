from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


def test_metrics_parse_with_prometheus_parser(live_server) -> None:
    httpx.get(live_server.url + "/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"})
    httpx.get(live_server.url + "/api/2.0/mlflow/runs/get", params={"run_id": "0" * 32})
    text = httpx.get(live_server.url + "/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    reqs = families["loopml_http_requests"]
    labels = {(s.labels["route"], s.labels["status"]) for s in reqs.samples if s.name.endswith("_total")}
    assert ("/api/2.0/mlflow/experiments/get", "200") in labels
    assert ("/api/2.0/mlflow/runs/get", "404") in labels
    hist = families["loopml_http_request_duration_seconds"]
    assert any(s.name.endswith("_bucket") for s in hist.samples)
