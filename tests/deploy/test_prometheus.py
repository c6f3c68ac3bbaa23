"""Prometheus, for real: both servers aggregate their metrics over ``--workers 2``
processes (multiprocess mode, process CPU and memory summed), and every PromQL query the
HPAs (through prometheus-adapter's rules) and the Grafana dashboards use returns data from
a real Prometheus scraping real ``loopml server`` and ``loopml serve`` processes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loopml.k8s._render import ADAPTER_RULES, dashboard_files
from tests.deploy._promstack import INFER_BAD, INFER_OK, SERVER_CALLS, Stack, start_stack

# Grafana's own variables, given the values a dashboard would (the scrape interval is 1 s).
pytestmark = pytest.mark.timeout(420)  # starting 5 processes on a loaded machine

GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "5s", "$__range": "1h"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from start_stack(tmp_path_factory.mktemp("prom"))


def _samples(url: str) -> dict[str, float]:
    """``name{labels}`` -> value of one scrape, the labels sorted."""
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for s in fam.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return out


def test_metrics_are_aggregated_over_the_worker_processes(stack: Stack) -> None:
    for _ in range(6):  # whichever worker answers, the totals are the pod's
        serve = _samples(stack.serve)
        ok = sum(v for k, v in serve.items()
                 if k.startswith("loopml_inference_requests_total{") and "status=200" in k)
        bad = sum(v for k, v in serve.items() if k.startswith("loopml_inference_errors_total{"))
        assert (ok, bad) == (INFER_OK, INFER_BAD)
        assert serve["loopml_processes{}"] == 3  # the supervisor and two workers
        assert serve["process_resident_memory_bytes{}"] > 3 * 20e6
        assert serve["process_cpu_seconds_total{}"] > 0
        server = _samples(stack.server)
        assert server["loopml_http_requests_total{method=GET,route=/version,status=200}"] == \
            SERVER_CALLS
        assert server["loopml_processes{}"] == 3
        assert server["process_resident_memory_bytes{}"] > 3 * 20e6


def test_control_plane_exports_monitor_alert_and_loop_state(stack: Stack) -> None:
    s = _samples(stack.server)
    assert s["loopml_monitor_metric{metric=drift.share_drifted,monitor=fraud-live}"] == 0.25
    assert s["loopml_alert_firing{monitor=fraud-live,rule=drift,subject=*}"] == 1
    assert s["loopml_loops{state=EVALUATING}"] == 1
    assert s["loopml_loop_actions_total{action=trained}"] == 1


def _adapter_queries() -> list[str]:
    """Each prometheus-adapter rule's metricsQuery as the adapter would send it for one
    scrape job (the adapter's matchers are namespace and pod; here the job)."""
    return [r["metricsQuery"].replace("<<.Series>>", r["seriesQuery"].split("{")[0])
            .replace("<<.LabelMatchers>>", 'job="loopml-serve"').replace("<<.GroupBy>>", "job")
            for r in ADAPTER_RULES]


def _dashboard_queries() -> list[tuple[str, str]]:
    out = []
    for name, text in dashboard_files().items():
        for panel in json.loads(text)["panels"]:
            for t in panel["targets"]:
                expr = t["expr"]
                for var, value in GRAFANA_VARS.items():
                    expr = expr.replace(var, value)
                out.append((f"{name}: {panel['title']}", expr))
    return out


def test_every_hpa_query_returns_data(stack: Stack) -> None:
    for q in _adapter_queries():
        assert stack.query(q), f"no data for {q}"


def test_every_dashboard_query_returns_data(stack: Stack) -> None:
    empty = [f"{where}: {q}" for where, q in _dashboard_queries() if not stack.query(q)]
    assert empty == []


def test_dashboards_are_grafana_json_with_a_prometheus_datasource() -> None:
    root = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
    assert sorted(p.name for p in root.glob("*.json")) == sorted(dashboard_files())
    for name, text in dashboard_files().items():
        board = json.loads(text)
        assert board["uid"].startswith("loopml-") and board["panels"], name
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        for p in board["panels"]:
            assert p["datasource"]["type"] == "prometheus" and p["targets"], (name, p["title"])
