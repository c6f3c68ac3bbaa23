"""The labeling routes: a viewer reads the queue, an editor labels, skips, undoes and
imports; Hypothesis drives every route with bad input (4xx with a JSON body naming the
problem, never a 5xx)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from loopml.security import Role
from loopml.security._identities import IdentityService
from loopml.store.identities_sql import SqlIdentityStore
from loopml.store.sql import SqlStore
from tests.labeling.conftest import write_log

API = "/api/loopml/v1/labeling"


@dataclass
class Env:
    client: TestClient
    viewer: dict[str, str]
    editor: dict[str, str]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:  # type: ignore[no-untyped-def]
    from loopml.monitoring.monitor import MonitorSpec
    from loopml.server._factory import build_services
    from loopml.server.app import create_app

    root: Path = tmp_path_factory.mktemp("label-routes")
    write_log(root / "log", "dep")
    uri = f"sqlite:///{root / 'db.sqlite'}"
    store = SqlStore(uri, str(root / "artifacts"))
    svc = IdentityService(SqlIdentityStore(store.engine))
    heads = {}
    for name, role in (("vic", Role.VIEWER), ("ed", Role.EDITOR)):
        svc.create_service_account(name)
        svc.grant(name, "default", role)
        heads[name] = {"Authorization": f"Bearer {svc.issue_token(name, 'default').token}"}
    store.close()
    mp = pytest.MonkeyPatch()
    mp.setenv("LOOPML_AUTH_REQUIRED", "true")
    services = build_services(uri, str(root / "artifacts"))
    mp.undo()
    services.monitor_specs = [MonitorSpec("dep-live", "dep", str(root / "log"))]
    client = TestClient(create_app(services), raise_server_exceptions=False,
                        base_url="http://127.0.0.1")
    yield Env(client, heads["vic"], heads["ed"])
    client.close()


def test_viewer_reads_editor_labels(env: Env) -> None:
    c = env.client
    r = c.get(f"{API}/dep/queue?limit=3&strategy=margin", headers=env.viewer)
    assert r.status_code == 200, r.text
    items, classes = r.json()["items"], r.json()["classes"]
    assert len(items) == 3 and classes == [0, 1, 2]
    first = items[0]
    body = {"request_id": first["request_id"], "label": 2, "prelabel": first["prelabel"]}
    assert c.post(f"{API}/dep/labels", json=body, headers=env.viewer).status_code == 403
    r = c.post(f"{API}/dep/labels", json=body, headers=env.editor)
    assert r.status_code == 200 and r.json() == {"stored": 1}
    fb = c.post("/api/loopml/v1/feedback/get", json={"request_ids": [first["request_id"]]},
                headers=env.viewer).json()
    assert fb == {"labels": {first["request_id"]: 2}}
    assert c.post(f"{API}/dep/skip", json={"request_id": items[1]["request_id"]},
                  headers=env.editor).json() == {"skipped": True}
    left = [i["request_id"] for i in c.get(f"{API}/dep/queue?limit=50&strategy=margin",
                                           headers=env.viewer).json()["items"]]
    assert first["request_id"] not in left and items[1]["request_id"] not in left
    st_ = c.get(f"{API}/dep/stats", headers=env.viewer).json()
    assert st_["labeled"] == 1 and st_["skipped"] == 1
    recs = c.get(f"{API}/dep/records", headers=env.viewer).json()["records"]
    assert [r["labeler"] for r in recs] == ["ed", "ed"]
    undone = c.post(f"{API}/dep/undo", json={}, headers=env.editor).json()["undone"]
    assert undone["request_id"] == items[1]["request_id"]
    tasks = c.get(f"{API}/dep/export?limit=2", headers=env.viewer).json()["tasks"]
    assert len(tasks) == 2 and tasks[0]["predictions"][0]["result"][0]["type"] == "choices"
    tasks[0]["annotations"] = [{"result": [{"from_name": "label", "to_name": "item",
                                            "type": "choices", "value": {"choices": ["1"]}}]}]
    r = c.post(f"{API}/dep/import", json={"tasks": tasks}, headers=env.editor)
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text
    assert c.post(f"{API}/dep/import", json={"tasks": tasks}, headers=env.viewer).status_code == 403


@pytest.mark.parametrize("method,path,body,status,word", [
    ("GET", "/nowhere/queue", None, 404, "--monitors"),
    ("GET", "/dep/queue?strategy=loud", None, 400, "strategy"),
    ("GET", "/dep/queue?limit=0", None, 400, "limit"),
    ("GET", "/dep/queue?strategy=drift", None, 400, "reference"),
    ("GET", "/dep/records?limit=-1", None, 400, "limit"),
    ("GET", "/dep/export?which=all", None, 400, "which"),
    ("POST", "/dep/labels", {"request_id": "r"}, 400, "label"),
    ("POST", "/dep/labels", {"items": []}, 400, "items"),
    ("POST", "/dep/labels", {"items": [{"request_id": "r", "label": {"x": 1}}]}, 400, "label"),
    ("POST", "/dep/skip", {}, 400, "request_id"),
    ("POST", "/dep/import", {"tasks": {}}, 400, "tasks"),
    ("POST", "/dep/import", {"tasks": [{"data": {"request_id": "r", "deployment": "x"}}]},
     400, "deployment"),
])
def test_bad_input_names_the_problem(env: Env, method: str, path: str, body: Any,
                                     status: int, word: str) -> None:
    r = env.client.request(method, API + path, json=body, headers=env.editor)
    assert r.status_code == status, r.text
    assert word in r.json()["message"]


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
                     lambda kids: st.lists(kids, max_size=3)
                     | st.dictionaries(st.text(max_size=10), kids, max_size=3), max_leaves=8)
_FIELDS = ["request_id", "label", "prelabel", "strategy", "items", "tasks", "limit", "which",
           "since_ms", "seed"]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(["queue", "stats", "records", "export", "labels", "skip", "undo",
                              "import"]),
       dep=st.sampled_from(["dep", "nope", "..", "a b", "x" * 300]),
       body=st.dictionaries(st.sampled_from(_FIELDS), _json, max_size=4))
def test_routes_never_fail_on_bad_input(env: Env, route: str, dep: str,
                                        body: dict[str, Any]) -> None:
    url = f"{API}/{dep}/{route}"
    if route in ("queue", "stats", "records", "export"):
        params = {k: str(v) for k, v in body.items()}
        r = env.client.get(url, params=params, headers=env.viewer)
    else:
        r = env.client.post(url, json=body, headers=env.editor)
    assert r.status_code < 500, (url, body, r.text)
    if r.status_code >= 400:
        assert r.json().get("message"), r.text
