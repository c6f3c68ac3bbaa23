"""Property test (Hypothesis) over every route of the tracking / control-plane server:
random and type-confused bodies never produce a 5xx, and every 4xx has a JSON error body
(issue 15). The dashboard (``/ui``) answers humans with HTML pages, so only "no 5xx" is
checked there. tests/server/_fuzz.py derives each route's fields from the route modules."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

import loopml.server.routes as routes_pkg
from loopml.server._factory import build_services
from loopml.server.app import create_app
from tests.server._fuzz import fields_for, fuzz_routes, route_fields, routes_of


@pytest.fixture(scope="module")
def tracking(tmp_path_factory) -> Iterator[tuple[TestClient, dict[str, list[Any]]]]:
    root = tmp_path_factory.mktemp("fuzz-server")
    services = build_services(f"sqlite:///{root / 'db.sqlite'}", str(root / "artifacts"))
    client = TestClient(create_app(services), raise_server_exceptions=False,
                        base_url="http://127.0.0.1")
    # Real ids and well-formed values, so that generated requests also get past the 404s
    # and the first check, and reach the later fields.
    rid = client.post("/api/2.0/mlflow/runs/create", json={}).json()["run"]["info"]["run_id"]
    client.post("/api/2.0/mlflow/runs/log-metric",
                json={"run_id": rid, "key": "m", "value": 1.0, "timestamp": 1})
    client.post("/api/2.0/mlflow/registered-models/create", json={"name": "m"})
    plausible: dict[str, list[Any]] = {
        "": [rid, "0", "m", "1", 1, 1.5, True, "champion", {}, []],
        "run_id": [rid], "run_uuid": [rid], "experiment_id": ["0"], "experiment_ids": [["0"]],
        "run_ids": [[rid]], "key": ["m", "k"], "metric_key": ["m"], "value": [1.0, "v", "NaN"],
        "timestamp": [1], "step": [0, 1], "name": ["m", "x"], "version": ["1"],
        "metrics": [[{"key": "m", "value": 1.0, "timestamp": 1, "step": 0}]],
        "params": [[{"key": "p", "value": "1"}], {}], "tags": [[{"key": "t", "value": "1"}]],
        "max_results": [10], "filter": ["metrics.m > 0"], "status": ["RUNNING", "FINISHED"],
        "pipeline": ["x:y"], "fields": [{"status": "RUNNING"}], "path": ["", "a/b.txt"],
    }
    yield client, plausible
    client.close()


def _run(tracking: tuple[TestClient, dict[str, list[Any]]], n: int, derandomize: bool,
         record_property) -> None:  # type: ignore[no-untyped-def]
    client, plausible = tracking
    mods = [importlib.import_module(f"{routes_pkg.__name__}.{m.name}")
            for m in pkgutil.iter_modules(routes_pkg.__path__)]
    table = route_fields(mods)
    generic = ["name", "run_id", "path", "key", "value", "limit"]  # routes reading no field
    routes = routes_of(client.app)
    report = fuzz_routes(client, routes, lambda p, m: fields_for(table, p, m) or generic,
                         plausible, ["m", "0", "1", "x", "..", "a/b"], n,
                         json_errors=lambda p: not (p == "/" or p.startswith("/ui")),
                         derandomize=derandomize)
    print(f"\ntracking server: {len(routes)} routes, {report.requests} requests")
    record_property("requests", report.requests)
    assert not report.failures, "\n".join(report.failures)


def test_every_route_answers_bad_input_with_a_4xx(tracking, record_property) -> None:  # type: ignore[no-untyped-def]
    _run(tracking, 15, True, record_property)


@pytest.mark.slow
def test_every_route_answers_bad_input_with_a_4xx_long(tracking, record_property) -> None:  # type: ignore[no-untyped-def]
    _run(tracking, 200, False, record_property)
